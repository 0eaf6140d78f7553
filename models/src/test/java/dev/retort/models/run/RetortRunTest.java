package dev.retort.models.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.export.ModelExporterTest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** retort-run: generate's flags and defaults, its text, and one line with exit 2 for bad input. */
class RetortRunTest {
    @Test
    void defaultsAreGenerates() {
        RetortRun.Options o = RetortRun.parse(new String[] {"--model", "m.gguf"});
        assertEquals(new Sampling(256, 0.8f, 0, 0.95f, 0f, 1f, java.util.List.of(), 42), o.sampling());
        assertEquals("", o.prompt());
        RetortRun.Options p = RetortRun.parse(new String[] {"--model", "m", "--stop", "a", "--stop", "b", "--top-k", "5", "--stats"});
        assertEquals(java.util.List.of("a", "b"), p.sampling().stops());
        assertEquals(5, p.sampling().topK());
        assertTrue(p.stats());
    }

    @Test
    void badFlagsFailInOneLineWithExitTwo() {
        assertEquals("unknown option '--batch'",
                assertThrows(IllegalArgumentException.class, () -> RetortRun.parse(new String[] {"--model", "m", "--batch", "2"})).getMessage());
        assertEquals("--max-tokens must be an integer, got 'ten'",
                assertThrows(IllegalArgumentException.class, () -> RetortRun.parse(new String[] {"--model", "m", "--max-tokens", "ten"})).getMessage());
        assertEquals("--top-p must be in (0, 1], got 2.0",
                assertThrows(IllegalArgumentException.class, () -> RetortRun.parse(new String[] {"--model", "m", "--top-p", "2"})).getMessage());
        assertEquals("--prompt needs a value",
                assertThrows(IllegalArgumentException.class, () -> RetortRun.parse(new String[] {"--model", "m", "--prompt"})).getMessage());
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(2, RetortRun.run(new String[] {"--prompt", "x"}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err)));
        assertEquals("retort-run: --model is required (a GGUF file or a model directory) (see 'retort-run --help')\n", err.toString());
    }

    @Test
    void printsWhatGenerateWrites() {
        Path stories = ModelExporterTest.stories();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status = RetortRun.run(new String[] {"--model", stories.toString(), "--prompt", "Once upon a time", "--temperature", "0",
                "--max-tokens", "20"}, new PrintStream(out), new PrintStream(new ByteArrayOutputStream()));
        assertEquals(0, status);
        try (Llm llm = Llm.open(stories)) {
            assertEquals(llm.generate("Once upon a time", Sampling.greedy(20)) + "\n", out.toString(StandardCharsets.UTF_8));
        }
    }
}
