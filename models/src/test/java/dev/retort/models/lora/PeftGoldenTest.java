package dev.retort.models.lora;

import static dev.retort.models.lora.LoraTesting.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Adapters written by PEFT 0.21 for a tiny transformers LlamaForCausalLM (tools/peft/make_golden.py): loaded
 * here, they must give PEFT's adapted logits, PEFT's merged weights (merge_and_unload) and the merged model's
 * logits.
 */
class PeftGoldenTest {
    static Path golden() throws Exception {
        return Path.of(PeftGoldenTest.class.getResource("/lora/peft-tiny/tokens.json").toURI()).getParent();
    }

    static int[] tokens(Path dir) throws Exception {
        int[][] rows = new ObjectMapper().readValue(dir.resolve("tokens.json").toFile(), int[][].class);
        int[] flat = new int[rows.length * rows[0].length];
        for (int b = 0; b < rows.length; b++) System.arraycopy(rows[b], 0, flat, b * rows[0].length, rows[0].length);
        return flat;
    }

    static float[] logits(LlamaModel model, int[] tokens) {
        try (BufferPool pool = new BufferPool(); Graph g = Graph.noGrad(pool)) {
            return model.logits(g, tokens, 2, tokens.length / 2).value().toFloatArray();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"list", "rslora"})
    void peftAdapterGivesPeftLogitsMergedWeightsAndMergedLogits(String name) throws Exception {
        Path dir = golden();
        int[] tokens = tokens(dir);
        LlamaConfig config = LlamaConfig.read(dir.resolve("base"));
        try (ModelWeights weights = ModelWeights.open(dir.resolve("base"));
             ModelWeights expected = ModelWeights.open(dir.resolve(name).resolve("golden.safetensors"));
             Arena arena = Arena.ofShared()) {
            // frozen, memory-mapped base: the adapters run beside it
            LlamaModel frozen = LlamaModel.load(config, weights, arena, false);
            LoraModel lora = PeftAdapter.load(dir.resolve(name).resolve("adapter"), frozen);
            assertEquals(name.equals("rslora") ? 14 : 6, lora.adapters().size(), "adapted layers");
            assertEquals(name.equals("rslora"), lora.config().useRsLora(), "use_rslora");
            float[] ref = expected.tensor("logits").toFloatArray();
            assertTrue(LoraTesting.maxAbs(ref) > 1, "the golden logits are not trivially small");
            assertClose(name + " adapted logits vs PEFT", ref, logits(frozen, tokens), 1e-5);
            for (String layer : lora.adapters().keySet()) {
                try (Arena scratch = Arena.ofConfined()) {
                    Tensor merged = lora.mergedWeight(layer, DType.F32, scratch);
                    assertClose(name + " merged " + layer + " vs PEFT merge_and_unload",
                            expected.tensor("merged." + layer + ".weight").toFloatArray(), merged.toFloatArray(), 1e-6);
                }
            }

            // trainable F32 copy: merge in place, then the plain model gives PEFT's merged logits
            LlamaModel copy = LlamaModel.load(config, weights, arena, true);
            LoraModel inPlace = PeftAdapter.load(dir.resolve(name).resolve("adapter"), copy);
            inPlace.merge();
            assertClose(name + " merged-model logits vs PEFT", expected.tensor("merged_logits").toFloatArray(), logits(copy, tokens), 1e-5);
        }
    }
}
