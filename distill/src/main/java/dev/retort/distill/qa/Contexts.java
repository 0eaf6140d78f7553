package dev.retort.distill.qa;

import dev.retort.distill.data.JsonLines;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A document collection cut into the contexts that QA synthesis reads and retrieval returns.
 *
 * <p>{@code --docs} is a directory (each regular file in it, by name, is one document whose id is its file name),
 * a {@code .jsonl} file of {@code {"id": …, "text": …}} lines (id optional: the line number), or any other file,
 * which is one document. Each document is cut by paragraph (blank lines): consecutive paragraphs are joined while
 * they fit in {@code maxWords} words (joined by a space: a context is one line), and a paragraph longer than that is cut at sentence ends (or, for a sentence
 * that alone is too long, between words). Context i of document d has the id {@code d#i}.
 *
 * <p>Retort's reading of "up to --context-tokens": the budget counts words (whitespace-separated), not the tokens
 * of a model, so {@code synthesize} and {@code index} cut a collection the same way whatever model reads it, and
 * a context id means the same text in both. With Llama-family tokenizers a word is 1–2 tokens.
 */
public final class Contexts {
    /** One context: its id, the document it comes from, and its text. */
    public record Context(String id, String document, String text) {}

    /** One document of the collection. */
    public record Document(String id, String text) {}

    private Contexts() {}

    /** The contexts of every document under {@code docs}, in document order. */
    public static List<Context> read(Path docs, int maxWords) throws IOException {
        if (maxWords < 1) throw new IllegalArgumentException("--context-tokens must be at least 1, got " + maxWords);
        List<Context> contexts = new ArrayList<>();
        for (Document d : documents(docs)) contexts.addAll(split(d, maxWords));
        if (contexts.isEmpty()) throw new IllegalArgumentException("--docs " + docs + ": no text in any document");
        return contexts;
    }

    /** The documents of {@code docs} as described above; ids are unique (a repeated id is refused, naming it). */
    public static List<Document> documents(Path docs) throws IOException {
        if (!Files.exists(docs)) throw new IllegalArgumentException("--docs " + docs + ": no such file or directory");
        List<Document> out = new ArrayList<>();
        if (Files.isDirectory(docs)) {
            List<Path> files;
            try (Stream<Path> s = Files.list(docs)) {
                files = s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().startsWith(".")).sorted().toList();
            }
            for (Path f : files) out.add(new Document(f.getFileName().toString(), JsonLines.text(f)));
        } else if (docs.getFileName().toString().endsWith(".jsonl")) {
            for (JsonLines.Line line : JsonLines.parse(docs, JsonLines.text(docs))) {
                String id = line.object().has("id") ? line.object().get("id").asText() : Integer.toString(line.number());
                out.add(new Document(id, line.string("text")));
            }
        } else {
            out.add(new Document(docs.getFileName().toString(), JsonLines.text(docs)));
        }
        Set<String> ids = new HashSet<>();
        for (Document d : out) {
            if (!ids.add(d.id())) throw new IllegalArgumentException("--docs " + docs + ": the document id \"" + d.id() + "\" appears twice");
        }
        if (out.isEmpty()) throw new IllegalArgumentException("--docs " + docs + ": no documents");
        return out;
    }

    /** One document's contexts. */
    public static List<Context> split(Document d, int maxWords) {
        List<String> pieces = new ArrayList<>();
        for (String paragraph : d.text().replace("\r\n", "\n").split("\n\\s*\n")) {
            String p = paragraph.strip().replaceAll("\\s+", " ");
            if (p.isEmpty()) continue;
            if (words(p) <= maxWords) pieces.add(p);
            else pieces.addAll(cutLong(p, maxWords));
        }
        // join neighbours while they fit
        List<String> joined = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        int currentWords = 0;
        for (String piece : pieces) {
            int w = words(piece);
            if (currentWords > 0 && currentWords + w > maxWords) {
                joined.add(current.toString());
                current.setLength(0);
                currentWords = 0;
            }
            if (currentWords > 0) current.append(' ');
            current.append(piece);
            currentWords += w;
        }
        if (currentWords > 0) joined.add(current.toString());
        List<Context> out = new ArrayList<>();
        for (int i = 0; i < joined.size(); i++) out.add(new Context(d.id() + "#" + i, d.id(), joined.get(i)));
        return out;
    }

    /** A paragraph of more than {@code maxWords} words cut at sentence ends, or between words inside a long sentence. */
    private static List<String> cutLong(String paragraph, int maxWords) {
        List<String> out = new ArrayList<>();
        List<String> current = new ArrayList<>();
        for (String sentence : paragraph.split("(?<=[.!?])\\s+")) {
            String[] w = sentence.split(" ");
            if (!current.isEmpty() && current.size() + w.length > maxWords) {
                out.add(String.join(" ", current));
                current.clear();
            }
            for (String word : w) {
                if (current.size() == maxWords) {
                    out.add(String.join(" ", current));
                    current.clear();
                }
                current.add(word);
            }
        }
        if (!current.isEmpty()) out.add(String.join(" ", current));
        return out;
    }

    static int words(String text) {
        String s = text.strip();
        return s.isEmpty() ? 0 : s.split("\\s+").length;
    }
}
