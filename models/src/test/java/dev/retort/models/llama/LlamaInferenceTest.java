package dev.retort.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The KV-cache path against the training path (itself checked against PyTorch in LlamaGoldenTest). */
class LlamaInferenceTest {

    /**
     * Unmerged LoRA adapters (non-zero B, dropout configured) are applied by the KV-cache path as the training path
     * applies them without dropout: prefill and decode match its logits, and a decode batch stays bitwise alone.
     */
    @ParameterizedTest
    @ValueSource(strings = {"gqa-untied", "llama3-rope"})
    void unmergedLoraAdaptersAreAppliedLikeTheTrainingPath(String name) throws Exception {
        Path dir = LlamaGoldenTest.golden(name);
        LlamaConfig config = LlamaConfig.read(dir);
        int[] tokens = {1, 5, 9, 2, 7, 7, 3, 11, 4, 8};
        try (ModelWeights weights = ModelWeights.open(dir); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(config, weights, arena, false);
            var lora = dev.retort.models.lora.Lora.attach(model, new dev.retort.models.lora.LoraConfig(4, 8, 0.1,
                    java.util.List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), false, 3));
            java.util.SplittableRandom random = new java.util.SplittableRandom(4);
            for (var a : lora.adapters().values()) {
                for (long i = 0; i < a.b().value().size(); i++) a.b().value().setFlat(i, (float) ((random.nextDouble() * 2 - 1) * 0.3));
            }
            float[] full, base;
            try (Graph g = Graph.noGrad(pool)) {
                full = model.logits(g, tokens, 1, tokens.length).value().toFloatArray();
            }
            int v = config.vocabSize();
            try (LlamaInference inference = new LlamaInference(model, 2, 32, 4)) {
                float[] afterPrompt = inference.forward(0, Arrays.copyOf(tokens, 6)).toFloatArray();
                assertClose(Arrays.copyOfRange(full, 5 * v, 6 * v), afterPrompt, name + " LoRA, after a 6-token prompt");
                inference.forward(1, Arrays.copyOf(tokens, 3));
                for (int t = 6; t < tokens.length; t++) {
                    inference.decode(new int[] {1, 0}, new int[] {tokens[t - 3], tokens[t]});
                    assertClose(Arrays.copyOfRange(full, t * v, (t + 1) * v), inference.logits(0).toFloatArray(), name + " LoRA position " + t);
                }
                base = inference.logits(1).toFloatArray();
            }
            try (LlamaInference alone = new LlamaInference(model, 32, 4)) {
                alone.forward(Arrays.copyOf(tokens, 3));
                for (int t = 6; t < tokens.length; t++) alone.forward(new int[] {tokens[t - 3]});
                assertArrayEquals(alone.logits(0).toFloatArray(), base, "a LoRA decode batch stays bitwise each sequence alone");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gqa-untied", "mha-tied", "llama3-rope"})
    void tokenByTokenAndChunkedDecodingMatchTheFullForward(String name) throws Exception {
        Path dir = LlamaGoldenTest.golden(name);
        LlamaConfig config = LlamaConfig.read(dir);
        int[] tokens = {1, 5, 9, 2, 7, 7, 3, 11, 4, 8, 6, 10, 12, 13};
        try (ModelWeights weights = ModelWeights.open(dir); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(config, weights, arena, false);
            float[] full;
            try (Graph g = Graph.noGrad(pool)) {
                full = model.logits(g, tokens, 1, tokens.length).value().toFloatArray();
            }
            int v = config.vocabSize();
            // one token at a time
            try (LlamaInference inference = new LlamaInference(model, 32, 4)) {
                for (int t = 0; t < tokens.length; t++) {
                    float[] logits = inference.forward(new int[] {tokens[t]}).toFloatArray();
                    assertClose(Arrays.copyOfRange(full, t * v, (t + 1) * v), logits, name + " position " + t);
                }
                assertEquals(tokens.length, inference.position());
            }
            // a prompt in chunks of 4 (prefill through the GEMM path), then the rest one by one
            try (LlamaInference inference = new LlamaInference(model, 32, 4)) {
                float[] afterPrompt = inference.forward(Arrays.copyOf(tokens, 10)).toFloatArray();
                assertClose(Arrays.copyOfRange(full, 9 * v, 10 * v), afterPrompt, name + " after a 10-token prompt");
                for (int t = 10; t < tokens.length; t++) {
                    assertClose(Arrays.copyOfRange(full, t * v, (t + 1) * v), inference.forward(new int[] {tokens[t]}).toFloatArray(),
                            name + " position " + t + " after prefill");
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gqa-untied"})
    void bf16WeightsAreReadInPlaceAndStayClose(String name) throws Exception {
        Path dir = LlamaGoldenTest.golden(name);
        LlamaConfig config = LlamaConfig.read(dir);
        try (ModelWeights weights = ModelWeights.open(dir); Arena arena = Arena.ofShared()) {
            LlamaModel f32 = LlamaModel.load(config, weights, arena, false);
            // The same model with every matrix rounded to BF16, as a BF16 checkpoint would hold it.
            ModelWeights bf16 = new RoundedWeights(weights, arena);
            LlamaModel half = LlamaModel.load(config, bf16, arena, false);
            assertEquals(DType.BF16, half.layers().get(0).qProj.weight().value().dtype(), "frozen weights keep their dtype");
            try (LlamaInference a = new LlamaInference(f32, 16, 4); LlamaInference b = new LlamaInference(half, 16, 4)) {
                float[] x = a.forward(new int[] {1, 2, 3, 4}).toFloatArray(), y = b.forward(new int[] {1, 2, 3, 4}).toFloatArray();
                double maxDiff = 0, maxAbs = 0;
                for (int i = 0; i < x.length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
                    maxAbs = Math.max(maxAbs, Math.abs(x[i]));
                }
                assertTrue(maxDiff < 0.05 * maxAbs, "BF16 logits within 5% of F32: " + maxDiff + " vs " + maxAbs);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mha-tied"})
    void aFullCacheIsAClearError(String name) throws Exception {
        Path dir = LlamaGoldenTest.golden(name);
        try (ModelWeights weights = ModelWeights.open(dir); Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(dir), weights, arena, false);
            try (LlamaInference inference = new LlamaInference(model, 4, 4)) {
                inference.forward(new int[] {1, 2, 3});
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> inference.forward(new int[] {4, 5}));
                assertTrue(e.getMessage().contains("holds 4"), e.getMessage());
                IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> inference.forward(new int[] {9999}));
                assertTrue(bad.getMessage().contains("9999"), bad.getMessage());
            }
        }
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-4 + 1e-4 * Math.abs(expected[i]), what + " logit " + i);
        }
    }

    /** Weights with every 2-D tensor rounded to BF16 (norms stay F32). */
    private static final class RoundedWeights implements ModelWeights {
        private final ModelWeights inner;
        private final Arena arena;

        RoundedWeights(ModelWeights inner, Arena arena) {
            this.inner = inner;
            this.arena = arena;
        }

        @Override public java.util.SortedSet<String> names() { return inner.names(); }
        @Override public boolean contains(String name) { return inner.contains(name); }
        @Override public dev.retort.models.hf.TensorInfo info(String name) { return inner.info(name); }
        @Override public java.lang.foreign.MemorySegment bytes(String name) { return inner.bytes(name); }
        @Override public void close() {}

        @Override
        public Tensor tensor(String name) {
            Tensor t = inner.tensor(name);
            if (t.rank() != 2) return t;
            Tensor half = Tensor.zeros(arena, DType.BF16, t.shape());
            t.copyInto(half);
            return half;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gqa-untied"})
    void layerSelectionKeepsTheChosenTeacherLayers(String name) throws Exception {
        Path dir = LlamaGoldenTest.golden(name);
        LlamaConfig config = LlamaConfig.read(dir);
        try (ModelWeights weights = ModelWeights.open(dir); Arena arena = Arena.ofShared()) {
            int[] keep = LayerSelection.parse("1", config.numHiddenLayers());
            LlamaModel student = LlamaModel.load(LayerSelection.config(config, keep), LayerSelection.weights(weights, keep), arena, true);
            assertEquals(1, student.layers().size());
            assertArrayEquals(weights.tensor("model.layers.1.mlp.up_proj.weight").toFloatArray(),
                    student.namedParameters().get("model.layers.0.mlp.up_proj.weight").value().toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> LayerSelection.parse("0,7", config.numHiddenLayers()));
            assertThrows(IllegalArgumentException.class, () -> LayerSelection.parse("1,1", config.numHiddenLayers()));
        }
    }
}
