package dev.retort.distill;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.export.GgufExporter;
import dev.retort.models.gguf.GgmlType;
import dev.retort.models.gguf.GgufFile;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    /** Inference: weights as stored, RoPE tables, an F32 KV cache [2 × L × positions × kv heads × head dim], activations. */
    @Test
    void anInferencePlanCountsTheKvCacheAndTheRopeTables() {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        LlamaConfig c = LlamaConfig.read(STORIES);   // 5 layers, 4 kv heads of 8, 512 positions
        MemoryPlan none = MemoryPlan.inference(STORIES, 0, 0, 0);
        MemoryPlan decoding = MemoryPlan.inference(STORIES, 0, 100, 0);
        assertEquals(4L * 512 * 8, none.activations(), "RoPE tables alone");
        assertEquals(2L * 4 * 5 * 100 * 4 * 8, decoding.activations() - none.activations(), "KV cache of 100 positions");
        assertEquals(4L * c.vocabSize(), MemoryPlan.inference(STORIES, 0, 0, 1).activations() - none.activations(), "one row of logits");
        assertEquals(3 * (decoding.activations() - none.activations()),
                MemoryPlan.inference(STORIES, 0, 3, 100, 0).activations() - none.activations(), "three sequences' caches");
        assertEquals(3 * (MemoryPlan.inference(STORIES, 0, 512, 0).activations() - none.activations()),
                MemoryPlan.inference(STORIES, 0, 3, 100_000, 0).activations() - none.activations(), "each capped at the context");
        assertTrue(none.weights() > 900_000, "the weights file: " + none.weights());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> decoding.requireWithin(1L << 20, "give a smaller --max-tokens"));
        assertTrue(e.getMessage().contains("--memory-limit is 1 MB") && e.getMessage().endsWith("give a smaller --max-tokens"),
                e.getMessage());
    }

    /**
     * Inference reads a GGUF file's Q8_0 weights in place, so the plan counts them as stored (34 bytes per 32
     * weights, a 2-byte F16 scale and 32 int8), not at F32's 4 bytes a weight; F32 and F16 tensors are read in
     * place too, so the plan is the file's tensor bytes.
     */
    @Test
    void anInferencePlanCountsQ8WeightsAtTheirStoredSize(@TempDir Path dir) {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        Path file = dir.resolve("s260k-q8_0.gguf");
        GgufExporter.export(STORIES, null, file, GgufExporter.FileType.Q8_0);
        long expected = 0, q8Weights = 0;
        try (GgufFile gguf = GgufFile.open(file)) {
            for (GgufFile.TensorEntry t : gguf.tensors().values()) {
                long stored = switch (t.type()) {
                    case F32 -> 4 * t.elements();
                    case F16 -> 2 * t.elements();
                    case Q8_0 -> t.elements() / 32 * 34;
                    default -> throw new AssertionError(t.name() + " is " + t.type());
                };
                assertEquals(stored, t.bytes(), t.name());
                expected += stored;
                if (t.type() == GgmlType.Q8_0) q8Weights += t.elements();
            }
        }
        assertTrue(q8Weights > 0, "the export quantised nothing");
        assertEquals(expected, MemoryPlan.inference(file, 0, 0, 0).weights());
    }

    /** Passes run at once in one process share the weights; each has its own activations (and trainable state). */
    @Test
    void concurrentPassesShareTheWeightsOnly() {
        MemoryPlan one = new MemoryPlan(3L << 30, 1L << 20, 2L << 20);
        MemoryPlan three = one.concurrent(3);
        assertEquals(new MemoryPlan(3L << 30, 3L << 20, 6L << 20), three);
        assertEquals(one, one.concurrent(1));
        assertThrows(IllegalArgumentException.class, () -> one.concurrent(0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> three.requireWithin(1L << 30, "spark.executor.memoryOverhead", "raise it"));
        assertTrue(e.getMessage().contains("spark.executor.memoryOverhead is 1.0 GB; raise it"), e.getMessage());
        three.requireWithin(0, "no limit", "never refused");
    }

    @Test
    void sizesParseAndTheRefusalIsOneLineSayingWhatToChange() {
        assertEquals(8L << 30, MemoryPlan.parseBytes("8g"));
        assertEquals(512L << 20, MemoryPlan.parseBytes("512M"));
        assertEquals(1000, MemoryPlan.parseBytes("1000"));
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> MemoryPlan.parseBytes("lots"));
        assertTrue(bad.getMessage().contains("--memory-limit") && bad.getMessage().contains("lots"), bad.getMessage());

        MemoryPlan plan = new MemoryPlan(3L << 30, 1L << 30, 2L << 30);
        plan.requireWithin(7L << 30, MemoryPlan.DISTILL_ADVICE);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> plan.requireWithin(4L << 30, MemoryPlan.DISTILL_ADVICE));
        assertTrue(e.getMessage().contains("--memory-limit is 4.0 GB"), e.getMessage());
        assertTrue(e.getMessage().contains("6.0 GB") && e.getMessage().contains("4.0 GB") && e.getMessage().contains("--batch-size"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"));
    }
}
