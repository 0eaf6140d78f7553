package dev.retort.distill.qa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Lucene index: written, read back whole, searched by BM25, and never overwritten. */
class ContextIndexTest {
    private static final List<Contexts.Context> CONTEXTS = List.of(
            new Contexts.Context("a#0", "a", "anna berg is a baker in oslo. she has a cat."),
            new Contexts.Context("b#0", "b", "ben holm is a pilot in alta. he is a friend of anna berg, the baker from oslo."),
            new Contexts.Context("c#0", "c", "carl vik is a doctor in bodo. he likes chess."));

    @TempDir
    Path tmp;

    @Test
    void roundTripAndSearch() throws Exception {
        Path out = tmp.resolve("index");
        assertEquals(3, ContextIndex.build(CONTEXTS, tmp.resolve("docs"), 64, out));
        try (ContextIndex index = ContextIndex.open(out)) {
            assertEquals(3, index.size());
            assertEquals(CONTEXTS, index.all(), "ids, documents and texts come back as written, in order");
            List<ContextIndex.Hit> hits = index.search("Which doctor likes CHESS?", 3);
            assertEquals("c#0", hits.getFirst().context().id(), "analysed like the text: case and punctuation do not matter");
            assertEquals(1, hits.size(), "only contexts with a word of the question are hits");
            List<ContextIndex.Hit> anna = index.search("anna berg baker oslo", 5);
            assertEquals(2, anna.size());
            assertTrue(anna.get(0).score() >= anna.get(1).score());
            assertEquals(List.of(0, 1), anna.stream().map(ContextIndex.Hit::rank).toList());
            assertEquals(List.of(), index.search("???", 5), "a question with no words finds nothing, and is no syntax error");
            assertEquals(List.of(), index.search("zebra", 5));
        }
    }

    @Test
    void bm25FollowsItsFormula() throws Exception {
        // one term, two contexts of equal length: the context with the term twice scores higher, by BM25's tf saturation
        List<Contexts.Context> cs = List.of(new Contexts.Context("x#0", "x", "owl owl fox"), new Contexts.Context("y#0", "y", "owl fox cat"),
                new Contexts.Context("z#0", "z", "cat dog eel"));
        ContextIndex.build(cs, tmp, 10, tmp.resolve("i"));
        try (ContextIndex index = ContextIndex.open(tmp.resolve("i"))) {
            List<ContextIndex.Hit> hits = index.search("owl", 3);
            double idf = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5));            // N = 3 contexts, 2 contain "owl"
            double k1 = 1.2, b = 0.75, avg = 3, len = 3;                        // every context has 3 words
            double tf2 = 2 * (k1 + 1) / (2 + k1 * (1 - b + b * len / avg)), tf1 = 1 * (k1 + 1) / (1 + k1 * (1 - b + b * len / avg));
            // Lucene drops the (k1 + 1) factor in its BM25 (a constant per query, it changes no ranking)
            assertEquals(idf * tf2 / (k1 + 1), hits.get(0).score(), 1e-5);
            assertEquals(idf * tf1 / (k1 + 1), hits.get(1).score(), 1e-5);
        }
    }

    @Test
    void anExistingIndexIsNeverOverwrittenAndNonIndexesAreRefused() throws Exception {
        Path out = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(out.resolve("notes.txt"), "keep me");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ContextIndex.build(CONTEXTS, tmp, 64, out));
        assertTrue(e.getMessage().contains("already exists"), e.getMessage());
        assertEquals("keep me", Files.readString(out.resolve("notes.txt")));
        e = assertThrows(IllegalArgumentException.class, () -> ContextIndex.open(out));
        assertTrue(e.getMessage().startsWith("--index " + out + ": not a retort index"), e.getMessage());
        try (var s = Files.list(tmp)) {
            assertEquals(1, s.count(), "no temporary directory left behind");
        }
    }
}
