package dev.retort.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The memory plan's arithmetic, checked on a real model, and the refusal it leads to. */
class MemoryPlanTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    @Test
    void theParameterCountIsTheModelFilesCount() {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        long inFile = 0;
        try (ModelWeights w = ModelWeights.open(STORIES)) {
            for (String name : w.names()) inFile += w.tensor(name).size();
        }
        assertEquals(inFile, MemoryPlan.parameters(LlamaConfig.read(STORIES)));
    }

    @Test
    void sizesParseAndTheRefusalIsOneLineSayingWhatToChange() {
        assertEquals(8L << 30, MemoryPlan.parseBytes("8g"));
        assertEquals(512L << 20, MemoryPlan.parseBytes("512M"));
        assertEquals(1000, MemoryPlan.parseBytes("1000"));
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> MemoryPlan.parseBytes("lots"));
        assertTrue(bad.getMessage().contains("--memory-limit") && bad.getMessage().contains("lots"), bad.getMessage());

        MemoryPlan plan = new MemoryPlan(3L << 30, 1L << 30, 2L << 30);
        plan.requireWithin(7L << 30, "--memory-limit");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> plan.requireWithin(4L << 30, "--memory-limit"));
        assertTrue(e.getMessage().contains("6.0 GB") && e.getMessage().contains("4.0 GB") && e.getMessage().contains("--batch-size"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"));
    }
}
