package dev.retort.models.lora;

import dev.retort.tensor.DTypeConversion;
import static dev.retort.models.lora.LoraTesting.assertBitIdentical;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.autograd.Parameter;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeftAdapterTest {
    @TempDir
    Path tmp;

    @Test
    void parametersAreNamedAsPeftNamesThem() {
        assertEquals("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight",
                LoraAdapter.peftName("model.layers.3.self_attn.q_proj", "A"));
        try (Arena arena = Arena.ofShared()) {
            LoraModel lora = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), LoraConfig.of(2, 4, "v_proj", "up_proj"));
            assertEquals(List.of(
                    "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
                    "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
                    "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight",
                    "base_model.model.model.layers.0.mlp.up_proj.lora_B.weight",
                    "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight",
                    "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight",
                    "base_model.model.model.layers.1.mlp.up_proj.lora_A.weight",
                    "base_model.model.model.layers.1.mlp.up_proj.lora_B.weight"),
                    List.copyOf(lora.namedParameters().keySet()));
            Parameter a = lora.adapter("model.layers.1.mlp.up_proj").a(), b = lora.adapter("model.layers.1.mlp.up_proj").b();
            assertEquals(List.of(2, 16), List.of(a.dim(0), a.dim(1)), "A is [r × in]");
            assertEquals(List.of(24, 2), List.of(b.dim(0), b.dim(1)), "B is [out × r]");
        }
    }

    @Test
    void configFileHasPeftFieldsValuesAndLayout() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LoraConfig config = new LoraConfig(8, 16, 0.05, List.of("q_proj", "v_proj"), true, 3);
            LoraModel lora = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), config);
            PeftAdapter.save(tmp, lora, "my/base-model");
            String text = Files.readString(tmp.resolve(PeftAdapter.CONFIG_FILE));
            JsonNode json = new ObjectMapper().readTree(text);
            assertEquals("LORA", json.get("peft_type").textValue());
            assertEquals("CAUSAL_LM", json.get("task_type").textValue());
            assertEquals(8, json.get("r").intValue());
            assertTrue(json.get("lora_alpha").isIntegralNumber(), "lora_alpha written as PEFT's int: " + json.get("lora_alpha"));
            assertEquals(16, json.get("lora_alpha").intValue());
            assertEquals(0.05, json.get("lora_dropout").doubleValue(), 0);
            assertEquals("[\"q_proj\",\"v_proj\"]", json.get("target_modules").toString());
            assertTrue(json.get("use_rslora").booleanValue());
            assertEquals("none", json.get("bias").textValue());
            assertEquals(false, json.get("fan_in_fan_out").booleanValue());
            assertEquals(true, json.get("inference_mode").booleanValue());
            assertEquals(true, json.get("init_lora_weights").booleanValue());
            assertEquals(false, json.get("use_dora").booleanValue());
            assertEquals("my/base-model", json.get("base_model_name_or_path").textValue());
            assertTrue(json.get("modules_to_save").isNull());
            // Exactly the keys PEFT 0.21 writes (its own file in the golden resources), bar none.
            JsonNode peft = new ObjectMapper().readTree(PeftGoldenTest.golden().resolve("list/adapter/adapter_config.json").toFile());
            assertEquals(List.copyOf(iterable(peft.fieldNames())), List.copyOf(iterable(json.fieldNames())), "keys, sorted as PEFT sorts them");
            // json.dumps(indent=2, sort_keys=True) layout
            assertTrue(text.startsWith("{\n  \"alora_invocation_tokens\": null,\n  \"alpha_pattern\": {},\n"), text);
            assertTrue(text.contains("\"target_modules\": [\n    \"q_proj\",\n    \"v_proj\"\n  ],\n"), text);
            assertTrue(text.endsWith("\n  \"velora_config\": null\n}"), text);
        }
        try (SafetensorsFile file = SafetensorsFile.open(tmp.resolve(PeftAdapter.WEIGHTS_FILE))) {
            assertEquals(Map.of("format", "pt"), file.metadata(), "metadata as PEFT writes it");
            assertEquals(8, file.names().size());
            for (String name : file.names()) assertEquals(DType.F32, file.tensor(name).dtype(), name);
        }
    }

    private static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> list = new java.util.ArrayList<>();
        it.forEachRemaining(list::add);
        return list;
    }

    @Test
    void pythonFloatsArePrintedAsPythonReprPrintsThem() {
        assertEquals("0.05", PythonJson.pythonFloat(0.05));
        assertEquals("0.0", PythonJson.pythonFloat(0.0));
        assertEquals("16.0", PythonJson.pythonFloat(16.0));
        assertEquals("1e-05", PythonJson.pythonFloat(1e-5));
        assertEquals("0.0001", PythonJson.pythonFloat(1e-4));
        assertEquals("1.5e+16", PythonJson.pythonFloat(1.5e16));
        assertEquals("1234567.0", PythonJson.pythonFloat(1234567.0));
    }

    @Test
    void saveThenLoadRestoresEveryTensorBitForBitAndTheConfig() {
        try (Arena arena = Arena.ofShared()) {
            LoraConfig config = new LoraConfig(3, 5.5, 0.1, List.of("k_proj", "o_proj", "gate_proj"), true, 9);
            LoraModel saved = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), config);
            LoraTesting.randomiseB(saved, 0.2, 4);
            PeftAdapter.save(tmp, saved, null);
            LoraModel loaded = PeftAdapter.load(tmp, LlamaModel.random(LoraTesting.tinyConfig(), arena, 2), 9);
            assertEquals(config, loaded.config(), "config read back");
            assertEquals(saved.namedParameters().keySet(), loaded.namedParameters().keySet());
            for (Map.Entry<String, Parameter> e : saved.namedParameters().entrySet()) {
                assertBitIdentical(e.getKey(), e.getValue().value().toFloatArray(),
                        loaded.namedParameters().get(e.getKey()).value().toFloatArray());
            }
        }
    }

    @Test
    void namingVariantsAndHalfPrecisionTensorsAreAccepted() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LoraModel saved = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), LoraConfig.of(2, 4, "q_proj"));
            LoraTesting.randomiseB(saved, 0.2, 4);
            PeftAdapter.save(tmp, saved, null);
            // Rewrite the weights as BF16 under three spellings PEFT uses.
            Map<String, Tensor> variants = new LinkedHashMap<>();
            String[] spellings = {
                    "base_model.model.model.layers.0.self_attn.q_proj.lora_%s.default.weight",
                    "model.layers.1.self_attn.q_proj.lora_%s.weight"};
            for (int layer = 0; layer < 2; layer++) {
                for (String m : List.of("A", "B")) {
                    Tensor f32 = saved.adapter("model.layers." + layer + ".self_attn.q_proj").a().value();
                    if (m.equals("B")) f32 = saved.adapter("model.layers." + layer + ".self_attn.q_proj").b().value();
                    variants.put(String.format(spellings[layer], m), DTypeConversion.convert(f32, DType.BF16, arena));
                }
            }
            SafetensorsWriter.write(tmp.resolve(PeftAdapter.WEIGHTS_FILE), variants);
            LoraModel loaded = PeftAdapter.load(tmp, LlamaModel.random(LoraTesting.tinyConfig(), arena, 2));
            for (Map.Entry<String, Parameter> e : saved.namedParameters().entrySet()) {
                float[] expected = DTypeConversion.convert(DTypeConversion.convert(e.getValue().value(), DType.BF16, arena),
                        DType.F32, arena).toFloatArray();
                assertBitIdentical(e.getKey() + " (BF16, widened exactly)", expected,
                        loaded.namedParameters().get(e.getKey()).value().toFloatArray());
            }
        }
    }

    /** Saves a valid q_proj/v_proj adapter, lets {@code edit} change its config, and returns the load error. */
    private String configError(Consumer<ObjectNode> edit) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LoraModel saved = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), LoraConfig.of(2, 4, "q_proj", "v_proj"));
            PeftAdapter.save(tmp, saved, null);
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode json = (ObjectNode) mapper.readTree(tmp.resolve(PeftAdapter.CONFIG_FILE).toFile());
            edit.accept(json);
            Files.writeString(tmp.resolve(PeftAdapter.CONFIG_FILE), mapper.writeValueAsString(json));
            LlamaModel target = LlamaModel.random(LoraTesting.tinyConfig(), arena, 2);
            ModelFileException e = assertThrows(ModelFileException.class, () -> PeftAdapter.load(tmp, target));
            assertTrue(e.getMessage().startsWith(tmp.resolve(PeftAdapter.CONFIG_FILE).toString()), "names the file: " + e.getMessage());
            for (Parameter p : target.namedParameters().values()) assertTrue(p.trainable(), "nothing attached after a failed load");
            return e.getMessage();
        }
    }

    @Test
    void unsupportedConfigsAreRefusedWithTheReason() throws Exception {
        assertTrue(configError(j -> j.put("use_dora", true)).contains("use_dora is true: DoRA is not supported"));
        assertTrue(configError(j -> j.put("bias", "all")).contains("bias is 'all'"));
        assertTrue(configError(j -> j.put("fan_in_fan_out", true)).contains("fan_in_fan_out is true"));
        assertTrue(configError(j -> j.put("peft_type", "IA3")).contains("peft_type is 'IA3'"));
        assertTrue(configError(j -> j.putArray("modules_to_save").add("lm_head")).contains("modules_to_save"));
        assertTrue(configError(j -> j.putObject("rank_pattern").put("q_proj", 4)).contains("per-layer ranks"));
        assertTrue(configError(j -> j.putArray("layers_to_transform").add(0)).contains("layers_to_transform"));
        assertTrue(configError(j -> j.putArray("target_modules").add("lm_head")).contains("target module 'lm_head'"));
        assertTrue(configError(j -> j.putArray("target_modules").add("model.layers.0.self_attn.q_proj"))
                .contains("Retort adapts the same modules in every layer"));
        assertTrue(configError(j -> j.put("r", "eight")).contains("r must be an integer"));
        assertTrue(configError(j -> j.put("r", 0)).contains("rank r must be at least 1"));
    }

    @Test
    void regexAndFullNameTargetModulesSelectModulesAsPeftDoes() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LoraModel saved = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), LoraConfig.of(2, 4, "q_proj", "v_proj"));
            PeftAdapter.save(tmp, saved, null);
            ObjectMapper mapper = new ObjectMapper();
            Path configFile = tmp.resolve(PeftAdapter.CONFIG_FILE);
            ObjectNode json = (ObjectNode) mapper.readTree(configFile.toFile());
            // a string is a regular expression that must match the whole module name
            json.put("target_modules", ".*\\.(v|q)_proj");
            Files.writeString(configFile, mapper.writeValueAsString(json));
            assertEquals(List.of("q_proj", "v_proj"), PeftAdapter.readConfig(configFile, 2, 0).targetModules());
            // PEFT expands all-linear into full module names when it saves
            json.putArray("target_modules").add("model.layers.0.self_attn.v_proj").add("model.layers.1.self_attn.v_proj")
                    .add("model.layers.1.self_attn.q_proj").add("model.layers.0.self_attn.q_proj");
            Files.writeString(configFile, mapper.writeValueAsString(json));
            LoraModel loaded = PeftAdapter.load(tmp, LlamaModel.random(LoraTesting.tinyConfig(), arena, 2));
            assertEquals(saved.namedParameters().keySet(), loaded.namedParameters().keySet());
        }
    }

    @Test
    void missingUnexpectedAndMisshapenTensorsAreRefused() throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LoraModel saved = Lora.attach(LlamaModel.random(LoraTesting.tinyConfig(), arena, 1), LoraConfig.of(2, 4, "q_proj"));
            PeftAdapter.save(tmp, saved, null);
            Path weights = tmp.resolve(PeftAdapter.WEIGHTS_FILE);
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : saved.namedParameters().entrySet()) tensors.put(e.getKey(), e.getValue().value());

            Map<String, Tensor> missing = new LinkedHashMap<>(tensors);
            missing.remove("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight");
            SafetensorsWriter.write(weights, missing);
            assertLoadError("missing tensor base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", arena);

            Map<String, Tensor> extra = new LinkedHashMap<>(tensors);
            extra.put("base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", Tensor.zeros(arena, DType.F32, 16));
            SafetensorsWriter.write(weights, extra);
            assertLoadError("unexpected tensor 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector'", arena);

            Map<String, Tensor> otherLayer = new LinkedHashMap<>(tensors);
            otherLayer.put("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", Tensor.zeros(arena, DType.F32, 2, 16));
            SafetensorsWriter.write(weights, otherLayer);
            assertLoadError("k_proj.lora_A.weight adapts a layer that target_modules [q_proj]", arena);

            Map<String, Tensor> misshapen = new LinkedHashMap<>(tensors);
            misshapen.put("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", Tensor.zeros(arena, DType.F32, 2, 15));
            SafetensorsWriter.write(weights, misshapen);
            assertLoadError("has shape [2, 15] but layer model.layers.0.self_attn.q_proj with r=2 needs [2, 16]", arena);

            Map<String, Tensor> twoAdapters = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
                twoAdapters.put(e.getKey().replace(".weight", ".default.weight"), e.getValue());
            }
            twoAdapters.put("base_model.model.model.layers.0.self_attn.v_proj.lora_A.other.weight", Tensor.zeros(arena, DType.F32, 2, 16));
            SafetensorsWriter.write(weights, twoAdapters);
            assertLoadError("holds several adapters [default, other]", arena);

            Files.delete(weights);
            Files.writeString(tmp.resolve("adapter_model.bin"), "pickle");
            assertLoadError("only adapter_model.bin (a PyTorch pickle) is there", arena);
        }
    }

    private void assertLoadError(String expected, Arena arena) {
        LlamaModel target = LlamaModel.random(LoraTesting.tinyConfig(), arena, 2);
        ModelFileException e = assertThrows(ModelFileException.class, () -> PeftAdapter.load(tmp, target));
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        assertTrue(e.getMessage().startsWith(tmp.toString()), "names the file: " + e.getMessage());
        for (var layer : target.layers()) assertNull(layer.qProj.adapter(), "nothing attached after a failed load");
    }
}
