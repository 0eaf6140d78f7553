package dev.retort.models.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.Tensor;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/** Tiny models, random fills and comparisons shared by the LoRA tests. */
final class LoraTesting {
    private LoraTesting() {}

    /** Two layers, GQA (4 heads, 2 KV heads), untied, C = 16, MLP 24, V = 32. */
    static LlamaConfig tinyConfig() {
        return new LlamaConfig(16, 24, 2, 4, 2, 4, 32, 32, 1e-5, 10000, null, false, 1, List.of(2), false, false, null);
    }

    static final int[] TOKENS = {1, 5, 9, 30, 2, 17, 4, 11, 3, 8, 25, 6};   // batch 2 × seq 6

    /** Logits [2 × 6 × V] of {@link #TOKENS} in a no-grad graph. */
    static float[] logits(LlamaModel model) {
        try (BufferPool pool = new BufferPool(); Graph g = Graph.noGrad(pool)) {
            return model.logits(g, TOKENS, 2, 6).value().toFloatArray();
        }
    }

    /** Fills {@code t} with U(−bound, bound) from {@code seed}. */
    static void fillUniform(Tensor t, double bound, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < t.size(); i++) t.setFlat(i, (float) ((random.nextDouble() * 2 - 1) * bound));
    }

    /** Gives every B of {@code lora} random values, so the adapters change the output. */
    static void randomiseB(LoraModel lora, double bound, long seed) {
        long s = seed;
        for (LoraAdapter a : lora.adapters().values()) fillUniform(a.b().value(), bound, s++);
    }

    static double maxAbs(float[] values) {
        double m = 0;
        for (float v : values) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** Every |actual − expected| ≤ tolerance · max(1, max|expected|). */
    static void assertClose(String what, double[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, what + ": size");
        double scale = 1;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= tolerance * scale)) {
                fail(String.format(Locale.ROOT, "%s: element %d expected %.9g got %.9g (error %.3g > %.1g × %.3g)",
                        what, i, expected[i], actual[i], err, tolerance, scale));
            }
        }
    }

    static void assertClose(String what, float[] expected, float[] actual, double tolerance) {
        double[] e = new double[expected.length];
        for (int i = 0; i < e.length; i++) e[i] = expected[i];
        assertClose(what, e, actual, tolerance);
    }

    static void assertBitIdentical(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": size");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " expected " + expected[i] + " got " + actual[i] + " (bits differ)");
            }
        }
    }
}
