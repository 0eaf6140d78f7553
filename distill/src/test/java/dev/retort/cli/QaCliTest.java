package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Question answering over documents from the command line, with stories260K standing in for both teacher and
 * student (it was never taught to write questions, so most of what it writes is rejected — which exercises the
 * rejected file as much as the kept one): synthesize (killed and continued), index, answer and eval-qa.
 */
class QaCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private Path docs;

    @BeforeEach
    void documents() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): skipped");
        StringBuilder lines = new StringBuilder();
        String[] names = {"Lily", "Tom", "Sam", "Mia", "Ben", "Sue"};
        String[] things = {"a red ball", "a big dog", "a blue kite", "a little cat", "a toy car", "a green frog"};
        for (int i = 0; i < 12; i++) {
            lines.append(JSON.createObjectNode().put("id", "s" + i).put("text", names[i % 6] + " had " + things[(i * 5) % 6]
                    + ". One day " + names[i % 6] + " went to the park.")).append('\n');
        }
        docs = Files.writeString(tmp.resolve("docs.jsonl"), lines);
    }

    private String[] synthesize(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("synthesize", "--teacher", STORIES.toString(), "--docs", docs.toString(),
                "--out", out.toString(), "--samples-per-context", "2", "--max-tokens", "20", "--temperature", "1", "--chunk", "1",
                "--seed", "7", "--stop", ".", "--template", writeTemplate().toString()));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    private Path writeTemplate() {
        try {
            Path t = tmp.resolve("template.txt");
            if (!Files.exists(t)) Files.writeString(t, "{context} Then Lily asked a question.\nquestion:");
            return t;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void synthesizeWritesKeptAndRejectedTripletsAndResumesExactlyAfterAKill() throws Exception {
        Path straight = tmp.resolve("straight.jsonl");
        CliTest.Run first = run(synthesize(straight, "--batch", "3"));
        assertEquals(0, first.exit(), first.err());
        assertTrue(first.lastLine().matches("synthesize: (\\d+) triplets in .* from 12 contexts x 2 samples; rejected (\\d+) truncated, "
                + "(\\d+) malformed, (\\d+) empty_answer, (\\d+) unsupported, (\\d+) duplicate_question; \\d+ tokens generated in [0-9.]+ s, "
                + "[0-9.]+ tokens/s"), first.lastLine());
        Path rejected = tmp.resolve("straight.rejected.jsonl");
        List<String> kept = Files.readAllLines(straight), refused = Files.readAllLines(rejected);
        assertEquals(24, kept.size() + refused.size(), "every sample is kept or rejected, once");
        for (String line : refused) {
            JsonNode r = JSON.readTree(line);
            assertTrue(List.of("truncated", "malformed", "empty_answer", "unsupported", "duplicate_question").contains(r.get("rejected").asText()), line);
            assertTrue(r.get("context_id").asText().matches("s\\d+#0"), line);
        }
        for (String line : kept) {
            JsonNode k = JSON.readTree(line);
            assertEquals("passage: " + k.get("context").asText() + "\nquestion:", k.get("prompt").asText());
            assertEquals(" " + k.get("question").asText() + "\nanswer: " + k.get("answer").asText(), k.get("completion").asText());
        }
        assertFalse(Files.exists(tmp.resolve("straight.jsonl.progress")));
        assertEquals(2, run(synthesize(straight)).exit(), "a finished output is never overwritten");

        Path out = tmp.resolve("killed.jsonl"), progress = tmp.resolve("killed.jsonl.progress");
        Process p = CliTest.start(tmp.resolve("log.txt"), synthesize(out, "--batch", "2"));
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (contextsDone(progress) < 3 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        p.destroyForcibly();
        p.waitFor();
        Assumptions.assumeTrue(contextsDone(progress) < 12, "the run finished before it could be killed");
        Files.writeString(out, "{\"context_id\":\"s9", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        Files.writeString(tmp.resolve("killed.rejected.jsonl"), "{\"torn", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        CliTest.Run resumed = run(synthesize(out, "--batch", "5"));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(Files.readString(straight), Files.readString(out), "killed, torn and continued (other --batch) = straight");
        assertEquals(Files.readString(rejected), Files.readString(tmp.resolve("killed.rejected.jsonl")));
        assertEquals(counts(first), counts(resumed), "the counts cover the whole file");

        CliTest.Run other = run(synthesize(tmp.resolve("straight.jsonl"), "--min-support", "0.9"));
        assertEquals(2, other.exit());
    }

    @Test
    void indexAnswerAndEvalQa() throws Exception {
        Path index = tmp.resolve("index");
        CliTest.Run built = run("index", "--docs", docs.toString(), "--out", index.toString());
        assertEquals(0, built.exit(), built.err());
        assertEquals("index: 12 contexts from " + docs + " in " + index, built.lastLine());
        assertEquals(2, run("index", "--docs", docs.toString(), "--out", index.toString()).exit(), "never overwritten");

        CliTest.Run one = run("answer", "--model", STORIES.toString(), "--index", index.toString(), "--question", "What did Mia have in the park?",
                "--candidates", "3", "--max-tokens", "6");
        assertEquals(0, one.exit(), one.err());
        JsonNode a = JSON.readTree(one.lastLine());
        assertEquals("What did Mia have in the park?", a.get("question").asText());
        assertEquals(3, a.get("candidates").size());
        assertTrue(a.get("context_id").asText().matches("s\\d+#0"), one.lastLine());

        Path gold = Files.writeString(tmp.resolve("gold.jsonl"), "{\"question\": \"What did Mia have?\", \"answer\": \"a little cat\", \"document\": \"s3\"}\n"
                + "{\"question\": \"Who had a blue kite?\", \"answer\": \"Sam\", \"context_id\": \"s2#0\"}\n");
        Path answers = tmp.resolve("answers.jsonl");
        CliTest.Run batch = run("answer", "--model", STORIES.toString(), "--index", index.toString(), "--questions", gold.toString(),
                "--out", answers.toString(), "--max-tokens", "6");
        assertEquals(0, batch.exit(), batch.err());
        assertEquals(2, Files.readAllLines(answers).size());

        CliTest.Run eval = run("eval-qa", "--model", STORIES.toString(), "--teacher", STORIES.toString(), "--index", index.toString(),
                "--data", gold.toString(), "--max-tokens", "6", "--out", tmp.resolve("eval.jsonl").toString());
        assertEquals(0, eval.exit(), eval.err());
        assertTrue(eval.lastLine().matches("eval-qa: 2 questions; bm25\\+teacher EM [0-9.]+ F1 [0-9.]+ retrieval [0-9.]+; bm25\\+student EM "
                + "[0-9.]+ F1 [0-9.]+ retrieval [0-9.]+; sgp\\+student EM [0-9.]+ F1 [0-9.]+ retrieval [0-9.]+"), eval.lastLine());
        assertEquals(6, Files.readAllLines(tmp.resolve("eval.jsonl")).size(), "3 pipelines x 2 questions");

        CliTest.Run planned = run("answer", "--model", STORIES.toString(), "--index", index.toString(), "--question", "x", "--memory-limit", "64k");
        assertEquals(2, planned.exit(), "refused by its memory plan before the model loads");
        assertTrue(planned.err().contains("--memory-limit is") && planned.err().contains("lower --candidates or --max-tokens"), planned.err());

        CliTest.Run notIndex = run("answer", "--model", STORIES.toString(), "--index", tmp.toString(), "--question", "x");
        assertEquals(2, notIndex.exit());
        assertTrue(notIndex.err().strip().equals("retort answer: --index " + tmp + ": not a retort index (no retort-index.json); build one with retort index"), notIndex.err());
        Path badGold = Files.writeString(tmp.resolve("bad.jsonl"), "{\"question\": \"q\", \"answer\": \"a\"}\n");
        CliTest.Run bad = run("eval-qa", "--model", STORIES.toString(), "--index", index.toString(), "--data", badGold.toString());
        assertEquals(2, bad.exit());
        assertTrue(bad.err().contains(badGold + ":1: a gold question needs \"document\" or \"context_id\""), bad.err());
    }

    /** The summary's counts, without the file name and the timing of this run. */
    private static String counts(CliTest.Run r) {
        return r.lastLine().replaceAll(" in \\S+ from", " from").replaceAll("; \\d+ tokens generated.*", "");
    }

    private static int contextsDone(Path progress) {
        try {
            return Files.exists(progress) ? JSON.readTree(progress.toFile()).path("contexts_done").asInt() : 0;
        } catch (Exception e) {
            return 0;
        }
    }
}
