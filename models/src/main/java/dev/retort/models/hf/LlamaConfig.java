package dev.retort.models.hf;

import static dev.retort.models.hf.JsonFields.quote;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import dev.retort.models.InputFiles;
import dev.retort.tensor.DType;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The architecture of a Llama-family model, as its Hugging Face {@code config.json} describes it, with every
 * default resolved the way transformers' {@code LlamaConfig} resolves it.
 *
 * <p>What is read:
 * <ul>
 *   <li>{@code model_type} must be {@code llama} or {@code mistral} when present, and {@code architectures},
 *       when present, must contain {@code LlamaForCausalLM} or {@code MistralForCausalLM}; one of the two must be
 *       there. Mistral is Llama plus a sliding attention window, so a Mistral config is accepted only when the
 *       window never applies: {@code sliding_window} null, or at least {@code max_position_embeddings}
 *       (transformers' default when the field is absent is 4096). Mistral's modules have no biases, so
 *       {@code attention_bias} and {@code mlp_bias} are false for it whatever the file says, as in transformers.
 *   <li>Required: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, vocab_size,
 *       max_position_embeddings, rms_norm_eps. (transformers would silently default these to Llama-7B values,
 *       which for a real checkpoint only hides a broken file.)
 *   <li>Defaults as in transformers: num_key_value_heads = num_attention_heads, head_dim = hidden_size /
 *       num_attention_heads, rope_theta = 10000, tie_word_embeddings, attention_bias, mlp_bias = false,
 *       hidden_act = silu (anything else is an error), bos_token_id = 1 and eos_token_id = 2 when the field is
 *       absent (an explicit null means none).
 *   <li>RoPE: either the transformers 4 fields {@code rope_theta} and {@code rope_scaling}, or the transformers 5
 *       object {@code rope_parameters} (which holds {@code rope_theta} too). The scaling type ({@code rope_type},
 *       or the older {@code type}) must be {@code default} (no scaling) or {@code llama3}.
 *   <li>{@code torch_dtype} (transformers 4) or {@code dtype} (transformers 5): float32, float16 or bfloat16.
 * </ul>
 *
 * @param ropeScaling  null for plain RoPE
 * @param bosTokenId   null when the config says none
 * @param eosTokenIds  every end-of-sequence id (Llama 3 instruct models have several); empty when none
 * @param torchDtype   the dtype the weights were saved in, or null when the config does not say
 */
public record LlamaConfig(
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int headDim,
        int vocabSize,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        Llama3RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        boolean attentionBias,
        boolean mlpBias,
        DType torchDtype) {

    /** The same architecture with {@code layers} decoder layers (a student made of some of a teacher's layers). */
    public LlamaConfig withLayers(int layers) {
        return new LlamaConfig(hiddenSize, intermediateSize, layers, numAttentionHeads, numKeyValueHeads, headDim, vocabSize,
                maxPositionEmbeddings, rmsNormEps, ropeTheta, ropeScaling, tieWordEmbeddings, bosTokenId, eosTokenIds,
                attentionBias, mlpBias, torchDtype);
    }

    /** The same config saying the weights are stored as {@code dtype} (an export in another precision). */
    public LlamaConfig withTorchDtype(DType dtype) {
        return new LlamaConfig(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, headDim,
                vocabSize, maxPositionEmbeddings, rmsNormEps, ropeTheta, ropeScaling, tieWordEmbeddings, bosTokenId,
                eosTokenIds, attentionBias, mlpBias, dtype);
    }

    /** The file name in a Hugging Face model directory. */
    public static final String FILE_NAME = "config.json";

    /**
     * Llama 3.1's RoPE frequency scaling: long wavelengths divided by {@code factor}, short ones kept, the band
     * between smoothly interpolated.
     */
    public record Llama3RopeScaling(double factor, double lowFreqFactor, double highFreqFactor,
                                    int originalMaxPositionEmbeddings) {}

    public LlamaConfig {
        eosTokenIds = List.copyOf(eosTokenIds);
    }

    /*
     * Upper bounds on the sizes a config.json may give, each far above any released Llama-family model (Llama 3.1
     * 405B: hidden 16384, intermediate 53248, 126 layers, 128 heads of 128, vocabulary 128256, context 131072).
     * They keep every size derived from them (a weight's elements, the RoPE tables, a KV cache) inside checked
     * long arithmetic, so that a damaged or hostile file is one line here rather than an overflow or an
     * allocation that cannot succeed; whether a legal size fits this machine is the memory plan's question.
     */
    public static final int MAX_HIDDEN_SIZE = 1 << 16;
    public static final int MAX_INTERMEDIATE_SIZE = 1 << 18;
    public static final int MAX_LAYERS = 1 << 10;
    public static final int MAX_HEADS = 1 << 10;
    public static final int MAX_HEAD_DIM = 1 << 12;
    public static final int MAX_VOCAB_SIZE = 1 << 22;
    public static final int MAX_POSITIONS = 1 << 22;

    /**
     * Reads {@code config.json} from a model directory, or the given file; a GGUF file (known by its magic) gives
     * the config its metadata describes ({@link dev.retort.models.gguf.GgufModel#config(Path)}).
     */
    public static LlamaConfig read(Path dirOrFile) {
        if (dev.retort.models.gguf.GgufFile.isGguf(dirOrFile)) return dev.retort.models.gguf.GgufModel.config(dirOrFile);
        Path file = Files.isDirectory(dirOrFile) ? dirOrFile.resolve(FILE_NAME) : dirOrFile;
        return parse(file, InputFiles.readUtf8(file, InputFiles.JSON_CONFIG_BYTES, ModelFileException::new));
    }

    /** Parses the text of a config.json; {@code file} is only used to name it in errors. */
    public static LlamaConfig parse(Path file, String json) {
        return new Parser(file, JsonFields.parseObject(file, json, "config")).config();
    }

    /** Reads one config.json; knows the field names, defaults and checks. */
    private record Parser(Path file, JsonNode root) {
        LlamaConfig config() {
            boolean mistral = family();
            int hiddenSize = size("hidden_size", MAX_HIDDEN_SIZE);
            int intermediateSize = size("intermediate_size", MAX_INTERMEDIATE_SIZE);
            int layers = size("num_hidden_layers", MAX_LAYERS);
            int heads = size("num_attention_heads", MAX_HEADS);
            int vocabSize = size("vocab_size", MAX_VOCAB_SIZE);
            int maxPositions = size("max_position_embeddings", MAX_POSITIONS);
            double eps = JsonFields.doubleValue(file, "rms_norm_eps", JsonFields.required(file, root, "rms_norm_eps"));
            if (!(eps > 0)) throw error("rms_norm_eps must be positive but is " + eps);

            Integer kvHeadsField = present("num_key_value_heads") ? size("num_key_value_heads", MAX_HEADS) : null;
            int kvHeads = kvHeadsField == null ? heads : kvHeadsField;
            if (heads % kvHeads != 0) {
                throw error("num_attention_heads (" + heads + ") is not a multiple of num_key_value_heads (" + kvHeads + ")");
            }
            Integer headDimField = present("head_dim") ? size("head_dim", MAX_HEAD_DIM) : null;
            if (headDimField == null && hiddenSize % heads != 0) {
                throw error("hidden_size (" + hiddenSize + ") is not a multiple of num_attention_heads (" + heads
                        + ") and there is no head_dim");
            }
            int headDim = headDimField == null ? hiddenSize / heads : headDimField;
            if (headDimField == null && headDim > MAX_HEAD_DIM) {
                throw error("hidden_size / num_attention_heads is " + headDim + "; expected a head dimension of at most " + MAX_HEAD_DIM);
            }

            String act = present("hidden_act") ? JsonFields.stringValue(file, "hidden_act", root.get("hidden_act")) : "silu";
            if (!act.equals("silu")) throw error("hidden_act is " + quote(act) + " but Llama models use silu");

            if (mistral) checkNoSlidingWindow(maxPositions);

            double ropeTheta;
            Llama3RopeScaling scaling;
            if (present("rope_parameters")) {
                JsonNode rope = JsonFields.objectValue(file, "rope_parameters", root.get("rope_parameters"));
                ropeTheta = ropeTheta(rope, "rope_parameters.rope_theta");
                scaling = ropeScaling(rope, "rope_parameters");
            } else {
                ropeTheta = ropeTheta(root, "rope_theta");
                scaling = present("rope_scaling")
                        ? ropeScaling(JsonFields.objectValue(file, "rope_scaling", root.get("rope_scaling")), "rope_scaling")
                        : null;
            }

            return new LlamaConfig(hiddenSize, intermediateSize, layers, heads, kvHeads, headDim, vocabSize, maxPositions,
                    eps, ropeTheta, scaling, bool("tie_word_embeddings"), bosTokenId(vocabSize), eosTokenIds(vocabSize),
                    !mistral && bool("attention_bias"), !mistral && bool("mlp_bias"), dtype());
        }

        /** True for Mistral, false for Llama; an error for anything else. */
        private boolean family() {
            String modelType = present("model_type") ? JsonFields.stringValue(file, "model_type", root.get("model_type")) : null;
            if (modelType != null && !modelType.equals("llama") && !modelType.equals("mistral")) {
                throw error("model_type is " + quote(modelType) + "; Retort reads Llama-family models (llama, mistral)");
            }
            List<String> architectures = new ArrayList<>();
            if (present("architectures")) {
                JsonNode list = JsonFields.arrayValue(file, "architectures", root.get("architectures"));
                for (JsonNode a : list) architectures.add(JsonFields.stringValue(file, "architectures", a));
                if (!architectures.contains("LlamaForCausalLM") && !architectures.contains("MistralForCausalLM")) {
                    throw error("architectures " + architectures + " has neither LlamaForCausalLM nor MistralForCausalLM");
                }
            } else if (modelType == null) {
                throw error("missing required field architectures (or model_type)");
            }
            return modelType != null ? modelType.equals("mistral") : !architectures.contains("LlamaForCausalLM");
        }

        private void checkNoSlidingWindow(int maxPositions) {
            JsonNode window = root.get("sliding_window");
            if (window != null && window.isNull()) return;
            int size = window == null ? 4096 : JsonFields.intValue(file, "sliding_window", window);
            if (size < maxPositions) {
                throw error("sliding_window is " + size + (window == null ? " (transformers' default for Mistral)" : "")
                        + ", below max_position_embeddings " + maxPositions + "; Retort has no sliding-window attention");
            }
        }

        private double ropeTheta(JsonNode owner, String field) {
            JsonNode node = owner.get("rope_theta");
            double theta = node == null || node.isNull() ? 10000.0 : JsonFields.doubleValue(file, field, node);
            if (!(theta > 0) || Double.isInfinite(theta)) throw error(field + " must be a positive number but is " + theta);
            return theta;
        }

        private Llama3RopeScaling ropeScaling(JsonNode scaling, String field) {
            JsonNode typeNode = scaling.has("rope_type") ? scaling.get("rope_type") : scaling.get("type");
            if (typeNode == null) throw error(field + " has neither rope_type nor type");
            String type = JsonFields.stringValue(file, field + ".rope_type", typeNode);
            return switch (type) {
                case "default" -> null;
                case "llama3" -> new Llama3RopeScaling(
                        positiveNumber(scaling, field + ".factor", "factor"),
                        positiveNumber(scaling, field + ".low_freq_factor", "low_freq_factor"),
                        positiveNumber(scaling, field + ".high_freq_factor", "high_freq_factor"),
                        positiveInt(scaling, field + ".original_max_position_embeddings", "original_max_position_embeddings"));
                default -> throw error(field + " type " + quote(type) + " is not supported (only default and llama3)");
            };
        }

        private Integer bosTokenId(int vocabSize) {
            if (!root.has("bos_token_id")) return 1;
            JsonNode node = root.get("bos_token_id");
            return node.isNull() ? null : tokenId("bos_token_id", node, vocabSize);
        }

        private List<Integer> eosTokenIds(int vocabSize) {
            if (!root.has("eos_token_id")) return List.of(2);
            JsonNode node = root.get("eos_token_id");
            if (node.isNull()) return List.of();
            if (!node.isArray()) return List.of(tokenId("eos_token_id", node, vocabSize));
            List<Integer> ids = new ArrayList<>();
            for (JsonNode id : node) ids.add(tokenId("eos_token_id", id, vocabSize));
            return ids;
        }

        /** A token id the config names: an integer in [0, vocab_size). */
        private int tokenId(String field, JsonNode node, int vocabSize) {
            int id = JsonFields.intValue(file, field, node);
            if (id < 0 || id >= vocabSize) {
                throw error(field + " is " + id + "; expected a token id in [0, " + vocabSize + ") (vocab_size " + vocabSize + ")");
            }
            return id;
        }

        private DType dtype() {
            String field = present("dtype") ? "dtype" : "torch_dtype";
            if (!present(field)) return null;
            String name = JsonFields.stringValue(file, field, root.get(field));
            return switch (name) {
                case "float32" -> DType.F32;
                case "float16" -> DType.F16;
                case "bfloat16" -> DType.BF16;
                default -> throw error(field + " is " + quote(name) + "; Retort reads float32, float16 and bfloat16");
            };
        }

        private boolean present(String field) {
            JsonNode node = root.get(field);
            return node != null && !node.isNull();
        }

        private boolean bool(String field) {
            return present(field) && JsonFields.booleanValue(file, field, root.get(field));
        }

        private int positiveInt(JsonNode owner, String path, String field) {
            JsonNode node = owner.get(field);
            if (node == null || node.isNull()) throw error("missing required field " + path);
            int value = JsonFields.intValue(file, path, node);
            if (value <= 0) throw error(path + " must be positive but is " + value);
            return value;
        }

        /** A required size in [1, max]. */
        private int size(String field, int max) {
            JsonNode node = root.get(field);
            if (node == null || node.isNull()) throw error("missing required field " + field);
            if (node.isIntegralNumber() && !node.canConvertToInt()) {
                throw error(field + " is " + JsonFields.kind(node) + "; expected 1 to " + max);
            }
            int value = JsonFields.intValue(file, field, node);
            if (value < 1 || value > max) throw error(field + " is " + value + "; expected 1 to " + max);
            return value;
        }

        private double positiveNumber(JsonNode owner, String path, String field) {
            JsonNode node = owner.get(field);
            if (node == null || node.isNull()) throw error("missing required field " + path);
            double value = JsonFields.doubleValue(file, path, node);
            if (!(value > 0) || Double.isInfinite(value)) throw error(path + " must be a positive number but is " + value);
            return value;
        }

        private ModelFileException error(String problem) {
            return new ModelFileException(file, problem);
        }
    }

    /**
     * This config as a transformers {@code config.json} for {@code LlamaForCausalLM}. It uses the transformers 4
     * field names ({@code rope_theta}, {@code rope_scaling}, {@code torch_dtype}), which transformers 5 also reads,
     * and writes every field explicitly so that no reader's defaults come into play.
     */
    public String toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("architectures", List.of("LlamaForCausalLM"));
        json.put("attention_bias", attentionBias);
        json.put("bos_token_id", bosTokenId);
        json.put("eos_token_id", eosTokenIds.isEmpty() ? null : eosTokenIds.size() == 1 ? eosTokenIds.getFirst() : eosTokenIds);
        json.put("head_dim", headDim);
        json.put("hidden_act", "silu");
        json.put("hidden_size", hiddenSize);
        json.put("intermediate_size", intermediateSize);
        json.put("max_position_embeddings", maxPositionEmbeddings);
        json.put("mlp_bias", mlpBias);
        json.put("model_type", "llama");
        json.put("num_attention_heads", numAttentionHeads);
        json.put("num_hidden_layers", numHiddenLayers);
        json.put("num_key_value_heads", numKeyValueHeads);
        json.put("rms_norm_eps", rmsNormEps);
        if (ropeScaling == null) {
            json.put("rope_scaling", null);
        } else {
            Map<String, Object> scaling = new LinkedHashMap<>();
            scaling.put("factor", ropeScaling.factor());
            scaling.put("high_freq_factor", ropeScaling.highFreqFactor());
            scaling.put("low_freq_factor", ropeScaling.lowFreqFactor());
            scaling.put("original_max_position_embeddings", ropeScaling.originalMaxPositionEmbeddings());
            scaling.put("rope_type", "llama3");
            json.put("rope_scaling", scaling);
        }
        json.put("rope_theta", ropeTheta);
        json.put("tie_word_embeddings", tieWordEmbeddings);
        if (torchDtype != null) {
            json.put("torch_dtype", switch (torchDtype) {
                case F32 -> "float32";
                case F16 -> "float16";
                case BF16 -> "bfloat16";
                case I8, Q8_0 -> throw new IllegalStateException(torchDtype + " is not a dtype transformers loads a model in");
            });
        }
        json.put("vocab_size", vocabSize);
        // transformers' own layout: two-space indent, "key": value.
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter()
                .withSeparators(Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));
        try {
            return JsonFields.MAPPER.writer(printer).writeValueAsString(json) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode a config of numbers and strings", e);
        }
    }

    /** Writes {@link #toJson()} to {@code file}, atomically (a temporary file renamed over it). */
    public void write(Path file) {
        Path temp = file.resolveSibling("." + file.getFileName() + ".tmp");
        try {
            Files.writeString(temp, toJson(), StandardCharsets.UTF_8);
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // The write failure is the one to report.
            }
            throw new ModelFileException(file, "cannot write: " + e, e);
        }
    }
}
