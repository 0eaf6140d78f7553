package dev.retort.distill.qa;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.StoredFields;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;

/**
 * An on-disk BM25 index of a collection's {@link Contexts} on Apache Lucene ({@code retort index}), and search
 * over it.
 *
 * <p>Each context is one Lucene document: its id and document id (exact strings) and its text (analysed by
 * Lucene's {@link StandardAnalyzer}: Unicode word breaks, lower case, no stop words). Scoring is Lucene's default
 * {@code BM25Similarity} (k1 = 1.2, b = 0.75). A question is analysed the same way and becomes one optional term
 * clause per word (a repeated word counts twice, as Lucene's query parser would have it), so no question is ever
 * a syntax error. Ties go to the context indexed first, so results are deterministic.
 *
 * <p>The index directory also holds {@code retort-index.json}: what was indexed (the docs path and the context
 * budget), so {@code answer} and {@code eval-qa} can say what they search. It is written into a temporary
 * directory beside {@code out} and moved into place when complete; an existing {@code out} is refused.
 */
public final class ContextIndex implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Lucene announces on standard error, at INFO, that it uses the Vector API; Retort's users know (held: levels live on loggers). */
    private static final Logger LUCENE_VECTORIZATION = Logger.getLogger("org.apache.lucene.internal.vectorization");

    static {
        LUCENE_VECTORIZATION.setLevel(Level.WARNING);
    }

    static final String DESCRIPTION = "retort-index.json";
    private static final String FORMAT = "retort context index 1";

    /** A retrieved context, its BM25 score and rank (0 = best). */
    public record Hit(Contexts.Context context, double score, int rank) {}

    private final Path path;
    private final Directory directory;
    private final DirectoryReader reader;
    private final IndexSearcher searcher;
    private final Analyzer analyzer = new StandardAnalyzer();
    private final int size;
    private final long longestContextBytes;

    private ContextIndex(Path path, long longestContextBytes) throws IOException {
        this.longestContextBytes = longestContextBytes;
        this.path = path;
        this.directory = FSDirectory.open(path);
        this.reader = DirectoryReader.open(directory);
        this.searcher = new IndexSearcher(reader);
        this.size = reader.numDocs();
    }

    /** Writes the index of {@code contexts} to {@code out} (which must not exist) and returns how many were indexed. */
    public static int build(List<Contexts.Context> contexts, Path docs, int contextWords, Path out) throws IOException {
        if (Files.exists(out)) {
            throw new IllegalArgumentException("--out " + out + " already exists; choose a new directory (an index is never overwritten)");
        }
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempDirectory(parent, "." + out.getFileName() + ".tmp-");
        try (Directory dir = FSDirectory.open(temp);
             IndexWriter writer = new IndexWriter(dir, new IndexWriterConfig(new StandardAnalyzer())
                     .setOpenMode(IndexWriterConfig.OpenMode.CREATE))) {
            for (Contexts.Context c : contexts) {
                Document d = new Document();
                d.add(new StringField("id", c.id(), Field.Store.YES));
                d.add(new StoredField("document", c.document()));
                d.add(new TextField("text", c.text(), Field.Store.YES));
                writer.addDocument(d);
            }
            writer.forceMerge(1);
            writer.commit();
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(temp.resolve(DESCRIPTION).toFile(), JSON.createObjectNode()
                .put("format", FORMAT).put("docs", docs.toAbsolutePath().normalize().toString())
                .put("context_words", contextWords).put("contexts", contexts.size())
                .put("longest_context_bytes", contexts.stream().mapToLong(c -> c.text().getBytes(java.nio.charset.StandardCharsets.UTF_8).length).max().orElse(0)));
        Files.move(temp, out, StandardCopyOption.ATOMIC_MOVE);
        return contexts.size();
    }

    /** Opens an index written by {@link #build}; anything else is refused in one line naming the path. */
    public static ContextIndex open(Path index) throws IOException {
        Path description = index.resolve(DESCRIPTION);
        if (!Files.isDirectory(index) || !Files.isRegularFile(description)) {
            throw new IllegalArgumentException("--index " + index + ": not a retort index (no " + DESCRIPTION + "); build one with retort index");
        }
        JsonNode d;
        try {
            d = JSON.readTree(description.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("--index " + index + ": " + DESCRIPTION + " is not valid JSON");
        }
        if (d == null || !FORMAT.equals(d.path("format").asText())) {
            throw new IllegalArgumentException("--index " + index + ": " + DESCRIPTION + " is not of format \"" + FORMAT + "\"");
        }
        try {
            return new ContextIndex(index, Math.max(0, d.path("longest_context_bytes").asLong()));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("--index " + index + ": the Lucene index cannot be read (" + e.getMessage() + ")");
        }
    }

    /** Contexts in the index. */
    public int size() {
        return size;
    }

    /** The UTF-8 length of the longest indexed context, for memory plans made before a model loads. */
    public long longestContextBytes() {
        return longestContextBytes;
    }

    public Path path() {
        return path;
    }

    /** The {@code n} best contexts for {@code question} by BM25, best first (fewer when fewer match any word). */
    public List<Hit> search(String question, int n) {
        if (n < 1) throw new IllegalArgumentException("--candidates must be at least 1, got " + n);
        try {
            Query query = query(question);
            ScoreDoc[] top = searcher.search(query, n).scoreDocs;
            StoredFields fields = searcher.storedFields();
            List<Hit> hits = new ArrayList<>();
            for (int i = 0; i < top.length; i++) {
                Document d = fields.document(top[i].doc);
                hits.add(new Hit(new Contexts.Context(d.get("id"), d.get("document"), d.get("text")), top[i].score, i));
            }
            return hits;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every indexed context in index order. */
    public List<Contexts.Context> all() throws IOException {
        StoredFields fields = reader.storedFields();
        List<Contexts.Context> out = new ArrayList<>();
        for (int i = 0; i < reader.maxDoc(); i++) {
            Document d = fields.document(i);
            out.add(new Contexts.Context(d.get("id"), d.get("document"), d.get("text")));
        }
        return out;
    }

    private Query query(String question) throws IOException {
        BooleanQuery.Builder b = new BooleanQuery.Builder();
        int clauses = 0;
        try (TokenStream tokens = analyzer.tokenStream("text", question)) {
            CharTermAttribute term = tokens.addAttribute(CharTermAttribute.class);
            tokens.reset();
            while (tokens.incrementToken() && clauses < IndexSearcher.getMaxClauseCount()) {
                b.add(new TermQuery(new Term("text", term.toString())), BooleanClause.Occur.SHOULD);
                clauses++;
            }
            tokens.end();
        }
        return b.build();
    }

    @Override
    public void close() throws IOException {
        reader.close();
        directory.close();
        analyzer.close();
    }
}
