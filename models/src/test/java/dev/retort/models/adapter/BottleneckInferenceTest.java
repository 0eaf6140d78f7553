package dev.retort.models.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.models.Llm;
import dev.retort.models.export.ModelExporterTest;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaInference;
import dev.retort.models.llama.LlamaModel;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On stories260K (a real trained tiny Llama): bottleneck adapters with every parameter non-zero are applied by
 * the KV-cache path as by the training forward, prompt and decode, batched or alone, and {@link Llm} opens a
 * saved adapter directory as modules with the same logits.
 */
class BottleneckInferenceTest {
    static final int[] TOKENS = {1, 403, 407, 261, 378, 29, 267, 145, 342, 266, 126, 30};

    @TempDir
    Path tmp;

    @Test
    void theKvCachePathMatchesTheTrainingForward() {
        Path stories = ModelExporterTest.stories();
        LlamaConfig config = LlamaConfig.read(stories);
        try (ModelWeights weights = ModelWeights.open(stories); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(config, weights, arena, false);
            float[] base = full(model, pool);
            BottleneckModel adapters = BottleneckModel.attach(model, new BottleneckConfig(8, BottleneckConfig.Placement.BOTH, 1));
            BottleneckAdapterTest.randomise(adapters, 0.15, 5);
            float[] full = full(model, pool);
            int v = config.vocabSize(), last = TOKENS.length - 1;
            double change = 0;
            for (int i = last * v; i < (last + 1) * v; i++) change = Math.max(change, Math.abs(full[i] - base[i]));
            assertTrue(change > 0.5, "the adapters change the last logits (max |Δ| " + change + ")");

            float[] alone;
            try (LlamaInference inference = new LlamaInference(model, 2, 32, 4)) {
                // a prompt in chunks of 4 (GEMMs), then decode steps of two sequences together (matvecs)
                float[] afterPrompt = inference.forward(0, Arrays.copyOf(TOKENS, 8)).toFloatArray();
                assertClose(Arrays.copyOfRange(full, 7 * v, 8 * v), afterPrompt, "after an 8-token prompt");
                inference.forward(1, Arrays.copyOf(TOKENS, 3));
                for (int t = 8; t < TOKENS.length; t++) {
                    inference.decode(new int[] {1, 0}, new int[] {TOKENS[t - 5], TOKENS[t]});
                    assertClose(Arrays.copyOfRange(full, t * v, (t + 1) * v), inference.logits(0).toFloatArray(), "position " + t);
                }
                alone = inference.logits(1).toFloatArray();
            }
            try (LlamaInference inference = new LlamaInference(model, 32, 4)) {
                inference.forward(Arrays.copyOf(TOKENS, 3));
                for (int t = 8; t < TOKENS.length; t++) inference.forward(new int[] {TOKENS[t - 5]});
                assertArrayEquals(inference.logits(0).toFloatArray(), alone, "a decode batch stays bitwise each sequence alone");
            }

            Path dir = tmp.resolve("adapter");
            BottleneckFiles.save(dir, adapters, stories.toString());
            float[] expected;
            try (LlamaInference inference = new LlamaInference(model, TOKENS.length, 64)) {   // as Llm.logits runs it
                expected = inference.forward(TOKENS).toFloatArray();
            }
            try (Llm llm = Llm.open(stories, dir)) {
                assertArrayEquals(expected, llm.logits(TOKENS), "Llm.open attaches the saved adapters: the same logits bitwise");
                float[][] rows = llm.allLogits(TOKENS);
                assertClose(Arrays.copyOfRange(full, last * v, (last + 1) * v), rows[last], "Llm's training-path logits");
            }
        }
    }

    private static float[] full(LlamaModel model, BufferPool pool) {
        try (Graph g = Graph.noGrad(pool)) {
            return model.logits(g, TOKENS, 1, TOKENS.length).value().toFloatArray();
        }
    }

    /** As the LoRA inference tests: |Δ| ≤ 1e-4 + 1e-4·|expected| per logit. */
    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-4 + 1e-4 * Math.abs(expected[i]), what + " logit " + i);
        }
    }
}
