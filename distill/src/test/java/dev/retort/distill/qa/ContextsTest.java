package dev.retort.distill.qa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How a collection is read and cut into contexts. */
class ContextsTest {
    @TempDir
    Path tmp;

    @Test
    void paragraphsAreJoinedWhileTheyFitAndLongOnesCutAtSentences() {
        Contexts.Document d = new Contexts.Document("doc", "one two three.\n\nfour five.\n\n\nsix seven eight nine. ten eleven twelve. thirteen.");
        List<Contexts.Context> c = Contexts.split(d, 5);
        // "one two three." (3) + "four five." (2) = 5 fit; the third paragraph (8 words) is cut at its sentences: 4 + 4
        assertEquals(List.of("one two three. four five.", "six seven eight nine.", "ten eleven twelve. thirteen."),
                c.stream().map(Contexts.Context::text).toList());
        assertEquals(List.of("doc#0", "doc#1", "doc#2"), c.stream().map(Contexts.Context::id).toList());
        assertTrue(c.stream().allMatch(x -> x.document().equals("doc")));
    }

    @Test
    void aSentenceLongerThanTheBudgetIsCutBetweenWords() {
        List<Contexts.Context> c = Contexts.split(new Contexts.Document("d", "a b c d e f g"), 3);
        assertEquals(List.of("a b c", "d e f", "g"), c.stream().map(Contexts.Context::text).toList());
    }

    @Test
    void aDirectoryAJsonlFileAndATextFileAreCollections() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("docs"));
        Files.writeString(dir.resolve("b.txt"), "second document");
        Files.writeString(dir.resolve("a.txt"), "first document");
        Files.writeString(dir.resolve(".hidden"), "not a document");
        assertEquals(List.of("a.txt#0", "b.txt#0"), Contexts.read(dir, 100).stream().map(Contexts.Context::id).toList());
        Path jsonl = Files.writeString(tmp.resolve("docs.jsonl"), "{\"id\": \"x\", \"text\": \"one\"}\n{\"text\": \"two\"}\n");
        assertEquals(List.of("x#0", "2#0"), Contexts.read(jsonl, 100).stream().map(Contexts.Context::id).toList());
        Path text = Files.writeString(tmp.resolve("law.txt"), "article one.\n\narticle two.");
        assertEquals(List.of("law.txt#0", "law.txt#1"), Contexts.read(text, 2).stream().map(Contexts.Context::id).toList());
    }

    @Test
    void badCollectionsAreRefusedInOneLine() throws Exception {
        Path dup = Files.writeString(tmp.resolve("dup.jsonl"), "{\"id\": \"x\", \"text\": \"one\"}\n{\"id\": \"x\", \"text\": \"two\"}\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Contexts.read(dup, 10));
        assertTrue(e.getMessage().contains("\"x\" appears twice"), e.getMessage());
        Path noText = Files.writeString(tmp.resolve("bad.jsonl"), "{\"id\": \"x\", \"body\": \"one\"}\n");
        e = assertThrows(IllegalArgumentException.class, () -> Contexts.read(noText, 10));
        assertTrue(e.getMessage().startsWith(noText + ":1: \"text\" must be a string"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Contexts.read(tmp.resolve("missing"), 10));
        assertTrue(e.getMessage().contains("no such file or directory"), e.getMessage());
        Path blank = Files.writeString(tmp.resolve("blank.txt"), "\n\n  \n");
        e = assertThrows(IllegalArgumentException.class, () -> Contexts.read(blank, 10));
        assertTrue(e.getMessage().contains("no text"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Contexts.read(blank, 0));
        assertTrue(e.getMessage().contains("--context-tokens must be at least 1"), e.getMessage());
    }
}
