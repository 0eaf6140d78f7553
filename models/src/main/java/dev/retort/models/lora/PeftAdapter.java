package dev.retort.models.lora;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.retort.autograd.Parameter;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModuleFiles;
import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * LoRA adapters in PEFT's directory format, readable by {@code PeftModel.from_pretrained}:
 * <ul>
 *   <li>{@value #WEIGHTS_FILE}: {@code base_model.model.<layer>.lora_A.weight} [r × in] and
 *       {@code ...lora_B.weight} [out × r], F32, metadata {@code {"format": "pt"}} as PEFT writes it;
 *   <li>{@value #CONFIG_FILE}: PEFT's {@code LoraConfig} fields, as {@code json.dumps(indent=2, sort_keys=True)}.
 * </ul>
 * Reading accepts what PEFT writes and its variants: names with or without {@code base_model.model.}, with an
 * adapter-name segment ({@code lora_A.default.weight}), F32/BF16/F16 tensors, and {@code target_modules} as a
 * list of names or suffixes, {@code "all-linear"}, or a regular expression matched against full module names.
 * Anything this engine cannot reproduce faithfully (DoRA, LoRA biases, fan_in_fan_out, per-layer ranks, modules
 * to save, layer selections, adapters on other modules) is refused with a one-line error naming the file.
 */
public final class PeftAdapter {
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    public static final String CONFIG_FILE = "adapter_config.json";

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    /** [base_model.model.]LAYER.lora_(A|B)[.ADAPTER].weight */
    private static final Pattern TENSOR_NAME =
            Pattern.compile("(?:base_model\\.model\\.)?(.+?)\\.lora_([AB])(?:\\.([^.]+))?\\.weight");

    private PeftAdapter() {}

    // ---- saving ---------------------------------------------------------------------------------------

    /**
     * Writes {@code lora} into {@code dir} (created if needed): the weights first, then the config, each
     * atomically. {@code baseModelNameOrPath} (may be null) is recorded as {@code base_model_name_or_path}.
     */
    public static void save(Path dir, LoraModel lora, String baseModelNameOrPath) {
        ModuleFiles.writeParameters(dir, WEIGHTS_FILE, lora.namedParameters(), "adapter directory");
        writeAtomically(dir.resolve(CONFIG_FILE), PythonJson.dumps(configJson(lora.config(), baseModelNameOrPath)));
    }

    /** The fields of PEFT's LoraConfig.to_dict() (without runtime_config, which PEFT drops when saving). */
    static Map<String, Object> configJson(LoraConfig config, String baseModelNameOrPath) {
        Map<String, Object> json = new TreeMap<>();
        json.put("alora_invocation_tokens", null);
        json.put("alpha_pattern", Map.of());
        json.put("arrow_config", null);
        json.put("auto_mapping", null);
        json.put("base_model_name_or_path", baseModelNameOrPath);
        json.put("bias", "none");
        json.put("corda_config", null);
        json.put("ensure_weight_tying", false);
        json.put("eva_config", null);
        json.put("exclude_modules", null);
        json.put("fan_in_fan_out", false);
        json.put("inference_mode", true);
        json.put("init_lora_weights", true);
        json.put("kasa_config", null);
        json.put("layer_replication", null);
        json.put("layers_pattern", null);
        json.put("layers_to_transform", null);
        json.put("loftq_config", Map.of());
        json.put("lora_alpha", config.alpha() == Math.rint(config.alpha()) && Math.abs(config.alpha()) < 1e15
                ? (Object) (long) config.alpha() : (Object) config.alpha());
        json.put("lora_bias", false);
        json.put("lora_dropout", config.dropout());
        json.put("lora_ga_config", null);
        json.put("megatron_config", null);
        json.put("megatron_core", "megatron.core");
        json.put("modules_to_save", null);
        json.put("monteclora_config", null);
        json.put("peft_type", "LORA");
        json.put("peft_version", null);   // not PEFT: PEFT fills in its own version when it loads this
        json.put("qalora_group_size", 16);
        json.put("r", config.rank());
        json.put("rank_pattern", Map.of());
        json.put("revision", null);
        json.put("target_modules", config.targetModules());
        json.put("target_parameters", null);
        json.put("task_type", "CAUSAL_LM");
        json.put("trainable_token_indices", null);
        json.put("use_bdlora", null);
        json.put("use_dora", false);
        json.put("use_qalora", false);
        json.put("use_rslora", config.useRsLora());
        json.put("velora_config", null);
        return json;
    }

    private static void writeAtomically(Path file, String text) {
        Path temp = file.resolveSibling("." + file.getFileName() + ".tmp");
        try {
            Files.writeString(temp, text, StandardCharsets.UTF_8);
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // the write failure is the one to report
            }
            throw new ModelFileException(file, "cannot write: " + e, e);
        }
    }

    // ---- loading --------------------------------------------------------------------------------------

    /** Reads the adapter in {@code dir} and attaches it to {@code model} (dropout seed 0). */
    public static LoraModel load(Path dir, LlamaModel model) {
        return load(dir, model, 0);
    }

    /**
     * Reads the adapter in {@code dir}, checks every tensor against {@code model}'s layers, and attaches it
     * ({@link Lora#attach}, which freezes the model); {@code seed} seeds dropout should the adapter be trained
     * further. Nothing is attached when any check fails.
     */
    public static LoraModel load(Path dir, LlamaModel model, long seed) {
        if (!Files.isDirectory(dir)) throw new ModelFileException(dir, "is not an adapter directory");
        Path weightsFile = dir.resolve(WEIGHTS_FILE);
        if (!Files.exists(weightsFile)) {
            throw new ModelFileException(weightsFile, Files.exists(dir.resolve("adapter_model.bin"))
                    ? "file not found; only adapter_model.bin (a PyTorch pickle) is there, which Retort does not read: "
                    + "save the adapter with safe_serialization=True"
                    : "file not found");
        }
        LoraConfig config = readConfig(dir.resolve(CONFIG_FILE), model.layers().size(), seed);
        try (SafetensorsFile file = SafetensorsFile.open(weightsFile)) {
            Map<String, Tensor> byPeftName = matchTensors(file, model, config);
            LoraModel lora = Lora.attach(model, config);
            for (Map.Entry<String, Parameter> e : lora.namedParameters().entrySet()) {
                byPeftName.get(e.getKey()).copyInto(e.getValue().value());   // widens BF16/F16 exactly
            }
            return lora;
        }
    }

    /**
     * Maps every tensor of {@code file} to the PEFT name of the parameter it fills, checking names and shapes
     * against the layers {@code config} adapts.
     */
    private static Map<String, Tensor> matchTensors(SafetensorsFile file, LlamaModel model, LoraConfig config) {
        Path path = file.path();
        Map<String, Tensor> found = new LinkedHashMap<>();
        Set<String> adapterNames = new TreeSet<>();
        for (String name : file.names()) {
            Matcher m = TENSOR_NAME.matcher(name);
            if (!m.matches()) {
                throw new ModelFileException(path, "unexpected tensor '" + name + "': Retort reads only the lora_A and "
                        + "lora_B weights of Linear layers (no biases, DoRA magnitudes, embeddings or saved modules)");
            }
            String layer = m.group(1).startsWith("layers.") ? "model." + m.group(1) : m.group(1);
            if (m.group(3) != null) adapterNames.add(m.group(3));
            String key = LoraAdapter.peftName(layer, m.group(2));
            if (found.put(key, file.tensor(name)) != null) {
                throw new ModelFileException(path, "holds two tensors for " + key + " (spelled differently)");
            }
        }
        if (adapterNames.size() > 1) {
            throw new ModelFileException(path, "holds several adapters " + adapterNames + "; Retort loads one adapter per directory");
        }
        Map<String, Tensor> matched = new LinkedHashMap<>();
        for (int i = 0; i < model.layers().size(); i++) {
            for (Map.Entry<String, dev.retort.autograd.nn.Linear> e : Lora.linears(model.layers().get(i)).entrySet()) {
                if (!config.targets(e.getKey())) continue;
                String layer = e.getValue().name();
                int in = e.getValue().inFeatures(), out = e.getValue().outFeatures(), r = config.rank();
                matched.put(LoraAdapter.peftName(layer, "A"), take(path, found, layer, "A", new int[] {r, in}));
                matched.put(LoraAdapter.peftName(layer, "B"), take(path, found, layer, "B", new int[] {out, r}));
            }
        }
        if (!found.isEmpty()) {
            throw new ModelFileException(path, "tensor " + found.keySet().iterator().next() + " adapts a layer that "
                    + "target_modules " + config.targetModules() + " of this " + model.layers().size()
                    + "-layer model does not include (" + found.size() + " such tensors)");
        }
        return matched;
    }

    private static Tensor take(Path path, Map<String, Tensor> found, String layer, String matrix, int[] shape) {
        String key = LoraAdapter.peftName(layer, matrix);
        Tensor t = found.remove(key);
        if (t == null) {
            throw new ModelFileException(path, "missing tensor " + key + " (nor any variant: without base_model.model., "
                    + "or with an adapter name before .weight)");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new ModelFileException(path, "tensor " + key + " has shape " + Arrays.toString(t.shape())
                    + " but layer " + layer + " with r=" + shape[matrix.equals("A") ? 0 : 1] + " needs " + Arrays.toString(shape));
        }
        if (t.dtype() == DType.I8) throw new ModelFileException(path, "tensor " + key + " is I8; expected F32, BF16 or F16");
        return t;
    }

    /** The LoRA settings of a PEFT {@code adapter_config.json}, for a model with {@code layerCount} layers. */
    public static LoraConfig readConfig(Path file, int layerCount, long seed) {
        String text = dev.retort.models.InputFiles.readUtf8(file, dev.retort.models.InputFiles.JSON_CONFIG_BYTES,
                ModelFileException::new);
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JacksonException e) {
            throw new ModelFileException(file, "is not valid JSON: " + e.getOriginalMessage().replaceAll("\\s+", " "), e);
        }
        if (root == null || !root.isObject()) throw new ModelFileException(file, "must hold a JSON object");
        ConfigReader reader = new ConfigReader(file, root);
        return reader.config(layerCount, seed);
    }

    /** Field access with PEFT's defaults for absent fields, and refusals for what Retort cannot apply. */
    private record ConfigReader(Path file, JsonNode root) {
        LoraConfig config(int layerCount, long seed) {
            String peftType = string("peft_type", null);
            if (peftType == null && dev.retort.models.adapter.BottleneckFiles.TYPE.equals(string("adapter_type", null))) {
                throw error("holds Retort bottleneck adapters (adapter_type " + dev.retort.models.adapter.BottleneckFiles.TYPE
                        + "), not a PEFT LoRA adapter; they cannot be merged into the weights (a nonlinearity sits between "
                        + "their projections), so they cannot be exported; generate and eval apply them as modules");
            }
            if (peftType == null) throw error("missing required field peft_type");
            if (!peftType.equals("LORA")) throw error("peft_type is '" + peftType + "'; Retort reads LORA adapters only");
            String task = string("task_type", null);
            if (task != null && !task.equals("CAUSAL_LM")) {
                throw error("task_type is '" + task + "'; Retort adapts causal language models (CAUSAL_LM)");
            }
            requireValue("bias", "none", "LoRA bias training is not supported");
            requireFalse("fan_in_fan_out", "weights stored [in × out] (Conv1D layers) are not Llama's");
            requireFalse("use_dora", "DoRA is not supported");
            requireFalse("lora_bias", "a bias on lora_B is not supported");
            requireFalse("use_qalora", "QA-LoRA is not supported");
            requireEmpty("modules_to_save", "fully trained extra modules are not supported");
            requireEmpty("rank_pattern", "per-layer ranks are not supported");
            requireEmpty("alpha_pattern", "per-layer alphas are not supported");
            requireEmpty("layers_to_transform", "adapting only some layers is not supported");
            requireEmpty("layer_replication", "layer replication is not supported");
            requireEmpty("exclude_modules", "excluding modules is not supported");
            requireEmpty("target_parameters", "adapting bare parameters is not supported");
            requireEmpty("trainable_token_indices", "trainable tokens are not supported");
            requireEmpty("alora_invocation_tokens", "activated LoRA is not supported");
            requireEmpty("use_bdlora", "block-diagonal LoRA is not supported");

            int r = integer("r", 8);
            double alpha = number("lora_alpha", 8);
            double dropout = number("lora_dropout", 0);
            boolean rsLora = bool("use_rslora", false);
            try {
                return new LoraConfig(r, alpha, dropout, targets(layerCount), rsLora, seed);
            } catch (IllegalArgumentException e) {
                throw error(e.getMessage());
            }
        }

        /**
         * target_modules as the short names it selects in every decoder layer. A list entry selects a module
         * whose full name equals it or ends with "." + it (PEFT's rule); a string other than "all-linear" is a
         * regular expression that must match a full module name entirely.
         */
        private List<String> targets(int layerCount) {
            JsonNode node = root.get("target_modules");
            if (node == null || node.isNull()) throw error("missing required field target_modules");
            if (node.isTextual() && node.textValue().equals(LoraConfig.ALL_LINEAR)) return List.of(LoraConfig.ALL_LINEAR);
            List<String> entries = new ArrayList<>();
            Pattern regex = null;
            if (node.isTextual()) {
                try {
                    regex = Pattern.compile(node.textValue());
                } catch (PatternSyntaxException e) {
                    throw error("target_modules regular expression '" + node.textValue() + "' is not valid: " + e.getDescription());
                }
            } else if (node.isArray()) {
                for (JsonNode entry : node) {
                    if (!entry.isTextual()) throw error("target_modules must hold strings but has " + entry);
                    entries.add(entry.textValue());
                }
            } else {
                throw error("target_modules must be a list of names or a string but is " + node);
            }
            Set<String> matchedEntries = new LinkedHashSet<>();
            List<String> first = null;
            for (int layer = 0; layer < layerCount; layer++) {
                List<String> selected = new ArrayList<>();
                for (String module : LoraConfig.LLAMA_MODULES) {
                    // q/k/v/o live in self_attn, gate/up/down in mlp
                    String block = LoraConfig.LLAMA_MODULES.indexOf(module) < 4 ? ".self_attn." : ".mlp.";
                    String full = "model.layers." + layer + block + module;
                    boolean hit = false;
                    if (regex != null) {
                        hit = regex.matcher(full).matches();
                    } else {
                        for (String entry : entries) {
                            if (full.equals(entry) || full.endsWith("." + entry)) {
                                hit = true;
                                matchedEntries.add(entry);
                            }
                        }
                    }
                    if (hit) selected.add(module);
                }
                if (first == null) {
                    first = selected;
                } else if (!first.equals(selected)) {
                    throw error("target_modules " + node + " selects " + first + " in layer 0 but " + selected + " in layer "
                            + layer + "; Retort adapts the same modules in every layer");
                }
            }
            for (String entry : entries) {
                if (!matchedEntries.contains(entry)) {
                    throw error("target module '" + entry + "' is not one of the Llama decoder's linear layers "
                            + LoraConfig.LLAMA_MODULES + "; Retort cannot adapt it");
                }
            }
            if (first == null || first.isEmpty()) throw error("target_modules " + node + " selects no linear layer of the model");
            return first;
        }

        private String string(String field, String absent) {
            JsonNode node = root.get(field);
            if (node == null || node.isNull()) return absent;
            if (!node.isTextual()) throw error(field + " must be a string but is " + node);
            return node.textValue();
        }

        private int integer(String field, int absent) {
            JsonNode node = root.get(field);
            if (node == null || node.isNull()) return absent;
            if (!node.isIntegralNumber() || !node.canConvertToInt()) throw error(field + " must be an integer but is " + node);
            return node.intValue();
        }

        private double number(String field, double absent) {
            JsonNode node = root.get(field);
            if (node == null || node.isNull()) return absent;
            if (!node.isNumber()) throw error(field + " must be a number but is " + node);
            return node.doubleValue();
        }

        private boolean bool(String field, boolean absent) {
            JsonNode node = root.get(field);
            if (node == null || node.isNull()) return absent;
            if (!node.isBoolean()) throw error(field + " must be true or false but is " + node);
            return node.booleanValue();
        }

        private void requireFalse(String field, String why) {
            if (bool(field, false)) throw error(field + " is true: " + why);
        }

        private void requireValue(String field, String expected, String why) {
            String value = string(field, expected);
            if (!value.equals(expected)) throw error(field + " is '" + value + "' (expected '" + expected + "'): " + why);
        }

        /** Absent, null, false, or an empty list, object or string. */
        private void requireEmpty(String field, String why) {
            JsonNode node = root.get(field);
            boolean empty = node == null || node.isNull() || (node.isBoolean() && !node.booleanValue())
                    || (node.isContainerNode() && node.isEmpty()) || (node.isTextual() && node.textValue().isEmpty());
            if (!empty) throw error(field + " is " + node + ": " + why);
        }

        private ModelFileException error(String problem) {
            return new ModelFileException(file, problem);
        }
    }
}
