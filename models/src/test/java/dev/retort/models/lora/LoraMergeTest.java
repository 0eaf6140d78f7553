package dev.retort.models.lora;

import dev.retort.tensor.DTypeConversion;
import static dev.retort.models.lora.LoraTesting.assertBitIdentical;
import static dev.retort.models.lora.LoraTesting.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraMergeTest {
    @TempDir
    Path tmp;

    /** W + scale·B·A in double. */
    static double[] mergedReference(Tensor w, LoraAdapter adapter) {
        int out = adapter.outFeatures(), in = adapter.inFeatures(), r = adapter.rank();
        Tensor a = adapter.a().value(), b = adapter.b().value();
        double[] merged = new double[out * in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                double delta = 0;
                for (int j = 0; j < r; j++) delta += (double) b.get(o, j) * a.get(j, i);
                merged[o * in + i] = w.get(o, i) + (double) adapter.scale() * delta;
            }
        }
        return merged;
    }

    @Test
    void mergedForwardEqualsUnmergedAndUnmergeRestoresTheWeights() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(LoraTesting.tinyConfig(), arena, 3);
            LoraModel lora = Lora.attach(model, LoraConfig.of(4, 8, "all-linear"));
            LoraTesting.randomiseB(lora, 0.2, 5);
            Map<String, float[]> original = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) original.put(e.getKey(), e.getValue().value().toFloatArray());
            float[] unmerged = LoraTesting.logits(model);
            assertFalse(java.util.Arrays.equals(unmerged, logitsWithout(model, lora)), "the adapters change the logits");

            lora.merge();
            assertTrue(lora.isMerged());
            for (String layer : lora.adapters().keySet()) {
                Tensor w = model.namedParameters().get(layer + ".weight").value();
                Tensor before = Tensor.of(arena, original.get(layer + ".weight"), w.shape());
                assertClose("merged " + layer, mergedReference(before, lora.adapter(layer)), w.toFloatArray(), 1e-6);
            }
            assertClose("logits merged vs unmerged", unmerged, LoraTesting.logits(model), 1e-5);

            lora.unmerge();
            for (Map.Entry<String, Parameter> e : model.namedParameters().entrySet()) {
                // (W + Δ) − Δ in F32 is W up to one rounding of each addition: within 2⁻²³ of max |W + Δ|.
                assertClose("unmerged " + e.getKey(), original.get(e.getKey()), e.getValue().value().toFloatArray(), 1.2e-7);
            }
            assertClose("logits after unmerge", unmerged, LoraTesting.logits(model), 1e-6);
        }
    }

    /** The model's logits with the adapters' B temporarily zero (the base model). */
    private static float[] logitsWithout(LlamaModel model, LoraModel lora) {
        Map<LoraAdapter, float[]> saved = new LinkedHashMap<>();
        for (LoraAdapter a : lora.adapters().values()) {
            saved.put(a, a.b().value().toFloatArray());
            a.b().value().fill(0);
        }
        float[] logits = LoraTesting.logits(model);
        for (Map.Entry<LoraAdapter, float[]> e : saved.entrySet()) {
            for (int i = 0; i < e.getValue().length; i++) e.getKey().b().value().setFlat(i, e.getValue()[i]);
        }
        return logits;
    }

    @Test
    void mappedHalfPrecisionBaseIsNeverChangedAndMergedWeightRoundsOnce() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel source = LlamaModel.random(LoraTesting.tinyConfig(), arena, 3);
            Map<String, Tensor> bf16 = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : source.namedParameters().entrySet()) {
                bf16.put(e.getKey(), DTypeConversion.convert(e.getValue().value(), DType.BF16, arena));
            }
            Path file = tmp.resolve("model.safetensors");
            SafetensorsWriter.write(file, bf16);
            try (ModelWeights weights = ModelWeights.open(file)) {
                LlamaModel model = LlamaModel.load(LoraTesting.tinyConfig(), weights, arena, false);
                LoraModel lora = Lora.attach(model, LoraConfig.of(2, 4, "v_proj"));
                LoraTesting.randomiseB(lora, 0.2, 5);
                String layer = "model.layers.1.self_attn.v_proj";
                Tensor w = model.namedParameters().get(layer + ".weight").value();
                assertEquals(DType.BF16, w.dtype());
                float[] stored = w.toFloatArray();

                IllegalStateException e = assertThrows(IllegalStateException.class, lora::merge);
                assertTrue(e.getMessage().contains("model.layers.0.self_attn.v_proj.weight' in place: it is BF16")
                        && e.getMessage().contains("mergedWeight"), e.getMessage());

                double[] reference = mergedReference(w, lora.adapter(layer));
                Tensor f32 = lora.mergedWeight(layer, DType.F32, arena);
                assertEquals(DType.F32, f32.dtype());
                assertClose("F32 merged weight", reference, f32.toFloatArray(), 1e-6);
                Tensor half = lora.mergedWeight(layer, DType.BF16, arena);
                assertEquals(DType.BF16, half.dtype());
                float[] f32Values = f32.toFloatArray(), halfValues = half.toFloatArray();
                for (int i = 0; i < halfValues.length; i++) {
                    float rounded = Half.bf16ToFloat(Half.floatToBf16(f32Values[i]));
                    if (Float.compare(rounded, halfValues[i]) != 0) fail("BF16 element " + i + " expected " + rounded + " got " + halfValues[i]);
                    assertTrue(Math.abs(halfValues[i] - reference[i]) <= Math.abs(reference[i]) / 256 + 1e-7,
                            "BF16 element " + i + " within half a BF16 ulp of " + reference[i] + ": " + halfValues[i]);
                }
                assertBitIdentical("the mapped base weight is untouched", stored, w.toFloatArray());

                Tensor delta = lora.delta(layer, arena);
                double[] deltaReference = mergedReference(Tensor.zeros(arena, DType.F32, w.shape()), lora.adapter(layer));
                assertClose("ΔW = scale·B·A", deltaReference, delta.toFloatArray(), 1e-6);
            }
        }
    }

    @Test
    void loraPlusGivesBTheRatioTimesTheLearningRateOfA() {
        try (Arena arena = Arena.ofShared()) {
            LoraModel lora = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 3), LoraConfig.of(2, 4, "q_proj", "up_proj"));
            List<ParamGroup> groups = lora.paramGroups(0.01, 16);
            assertEquals(2, groups.size());
            assertEquals(1.0, groups.get(0).lrScale(), 0);
            assertEquals(16.0, groups.get(1).lrScale(), 0);
            assertEquals(0.01, groups.get(1).weightDecay(), 0);
            for (Parameter p : groups.get(0).parameters()) assertTrue(p.name().endsWith(".lora_A.weight"), p.name());
            for (Parameter p : groups.get(1).parameters()) assertTrue(p.name().endsWith(".lora_B.weight"), p.name());
            assertEquals(4, groups.get(0).parameters().size());
            assertEquals(4, groups.get(1).parameters().size());
            assertThrows(IllegalArgumentException.class, () -> lora.paramGroups(0, 0));
        }
    }

    @Test
    void detachRemovesTheAdaptersAndRestoresTrainability() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(LoraTesting.tinyConfig(), arena, 3);
            int trainable = model.trainableParameters().size();
            LoraModel lora = Lora.attach(model, LoraConfig.of(2, 4, "q_proj"));
            assertSame(lora.adapter("model.layers.0.self_attn.q_proj"), model.layers().get(0).qProj.adapter());
            IllegalStateException twice = assertThrows(IllegalStateException.class, () -> Lora.attach(model, LoraConfig.of(2, 4, "q_proj")));
            assertTrue(twice.getMessage().contains("already has an adapter"), twice.getMessage());
            IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> lora.adapter("model.layers.0.mlp.up_proj"));
            assertTrue(unknown.getMessage().contains("adapted layers: [model.layers.0.self_attn.q_proj, model.layers.1.self_attn.q_proj]"),
                    unknown.getMessage());
            lora.detach();
            assertNull(model.layers().get(0).qProj.adapter());
            assertEquals(trainable, model.trainableParameters().size(), "trainable flags restored");
            assertThrows(IllegalStateException.class, lora::parameters);
        }
    }
}
