package dev.retort.distill.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo pipeline end to end at toy size: every stage runs and the comparison is filled in. */
class DemoRunTest {

    @Test
    void theWholePipelineRunsAndReports(@TempDir Path work) throws Exception {
        DemoRun.Size tiny = new DemoRun.Size(300, 40, 300, 32, 2, 2, 1, 64, 32, 8, 30, 12, "1", 4, 0.9, 5);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        DemoRun.Summary summary = DemoRun.run(work, tiny, new PrintStream(log, true));
        assertEquals(3, summary.rows().size());
        for (DemoRun.Row r : summary.rows()) {
            assertTrue(r.perplexity() > 1 && r.perplexity() < 300, r.toString());
            assertTrue(r.agreement() >= 0 && r.agreement() <= 1, r.toString());
        }
        assertTrue(Files.readString(summary.report()).contains("Held-out evaluation"));
        assertTrue(Files.exists(work.resolve("teacher/model.safetensors")));
        assertTrue(Files.exists(work.resolve("student-neo/adapter/adapter_config.json")));
        // Running again in the same place replaces the previous outputs.
        DemoRun.run(work, tiny, new PrintStream(new ByteArrayOutputStream(), true));
    }
}
