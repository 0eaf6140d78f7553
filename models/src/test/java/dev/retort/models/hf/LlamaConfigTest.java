package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.models.hf.LlamaConfig.Llama3RopeScaling;
import dev.retort.tensor.DType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LlamaConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CONFIG = Path.of("config.json");

    @TempDir
    Path dir;

    // ---- against transformers ------------------------------------------------------------------------------

    /**
     * config-X.resolved.json holds what transformers' AutoConfig resolves from config-X.json (defaults filled in);
     * config-X.v5.json is the same config as transformers 5 saves it (rope_parameters, dtype). Both must parse to
     * exactly those values.
     */
    @ParameterizedTest
    @ValueSource(strings = {"config-llama32-1b-instruct", "config-tinyllama", "config-mistral-no-window", "config-minimal-defaults"})
    void resolvesEveryFieldAsTransformersDoesFromBothFileLayouts(String name) throws Exception {
        LlamaConfig expected = fromResolved(JSON.readTree(TestFiles.goldenText(name + ".resolved.json")));
        assertEquals(expected, LlamaConfig.parse(Path.of(name + ".json"), TestFiles.goldenText(name + ".json")), name + ".json");
        assertEquals(expected, LlamaConfig.parse(Path.of(name + ".v5.json"), TestFiles.goldenText(name + ".v5.json")),
                name + ".v5.json");
    }

    private static LlamaConfig fromResolved(JsonNode r) {
        Llama3RopeScaling scaling = switch (r.get("rope_type").asText()) {
            case "default" -> null;
            case "llama3" -> new Llama3RopeScaling(r.get("rope_factor").asDouble(), r.get("rope_low_freq_factor").asDouble(),
                    r.get("rope_high_freq_factor").asDouble(), r.get("rope_original_max_position_embeddings").asInt());
            default -> throw new IllegalArgumentException("rope type " + r.get("rope_type"));
        };
        List<Integer> eos = new ArrayList<>();
        r.get("eos_token_ids").forEach(id -> eos.add(id.asInt()));
        DType dtype = switch (r.get("dtype").asText("null")) {
            case "float32" -> DType.F32;
            case "bfloat16" -> DType.BF16;
            case "float16" -> DType.F16;
            default -> null;
        };
        return new LlamaConfig(r.get("hidden_size").asInt(), r.get("intermediate_size").asInt(),
                r.get("num_hidden_layers").asInt(), r.get("num_attention_heads").asInt(), r.get("num_key_value_heads").asInt(),
                r.get("head_dim").asInt(), r.get("vocab_size").asInt(), r.get("max_position_embeddings").asInt(),
                r.get("rms_norm_eps").asDouble(), r.get("rope_theta").asDouble(), scaling,
                r.get("tie_word_embeddings").asBoolean(), r.get("bos_token_id").isNull() ? null : r.get("bos_token_id").asInt(),
                eos, r.get("attention_bias").asBoolean(), r.get("mlp_bias").asBoolean(), dtype);
    }

    /**
     * config-X.retort.json is toJson()'s output, committed; tools/hf-golden/make_golden.py checks that transformers
     * loads each to the same values as config-X.json. Here toJson() must still write exactly that.
     */
    @ParameterizedTest
    @ValueSource(strings = {"config-llama32-1b-instruct", "config-tinyllama", "config-mistral-no-window", "config-minimal-defaults"})
    void toJsonWritesTheExportThatTransformersWasCheckedToLoad(String name) {
        LlamaConfig config = LlamaConfig.parse(Path.of(name + ".json"), TestFiles.goldenText(name + ".json"));
        assertEquals(TestFiles.goldenText(name + ".retort.json"), config.toJson());
    }

    @ParameterizedTest
    @ValueSource(strings = {"config-llama32-1b-instruct", "config-tinyllama", "config-mistral-no-window", "config-minimal-defaults"})
    void toJsonRoundTripsThroughTheParser(String name) {
        LlamaConfig config = LlamaConfig.parse(Path.of(name + ".json"), TestFiles.goldenText(name + ".json"));
        Path file = dir.resolve("config.json");
        config.write(file);
        assertEquals(config, LlamaConfig.read(dir));
    }

    // ---- the shared tiny model ----------------------------------------------------------------------------

    @Test
    void readsStories260KAsItsReadmeDescribesIt() {
        Path dirWithConfig = SharedAssets.require("stories260K/config.json").getParent();
        LlamaConfig c = LlamaConfig.read(dirWithConfig);
        assertEquals(new LlamaConfig(64, 172, 5, 8, 4, 8, 512, 512, 1e-5, 10000.0, null, true, 1, List.of(2),
                false, false, DType.F32), c);
        assertEquals(c, LlamaConfig.parse(CONFIG, c.toJson()));
    }

    // ---- Llama 3 specifics --------------------------------------------------------------------------------

    @Test
    void readsLlama3ScalingAndSeveralEosIds() {
        LlamaConfig c = parse("config-llama32-1b-instruct", root -> {});
        assertEquals(new Llama3RopeScaling(32.0, 1.0, 4.0, 8192), c.ropeScaling());
        assertEquals(500000.0, c.ropeTheta());
        assertEquals(List.of(128001, 128008, 128009), c.eosTokenIds());
        assertEquals(8, c.numKeyValueHeads());
        assertEquals(64, c.headDim());
        assertEquals(true, c.tieWordEmbeddings());
    }

    @Test
    void acceptsTheOlderTypeKeyAndTheDefaultRopeType() {
        LlamaConfig old = parse("config-llama32-1b-instruct", root -> {
            ObjectNode scaling = (ObjectNode) root.get("rope_scaling");
            scaling.set("type", scaling.remove("rope_type"));
        });
        assertEquals(new Llama3RopeScaling(32.0, 1.0, 4.0, 8192), old.ropeScaling());
        LlamaConfig plain = parse("config-llama32-1b-instruct", root -> root.putObject("rope_scaling").put("rope_type", "default"));
        assertNull(plain.ropeScaling());
    }

    @Test
    void absentTokenIdsTakeTransformersDefaultsAndNullMeansNone() {
        LlamaConfig absent = parse("config-tinyllama", root -> {
            root.remove("bos_token_id");
            root.remove("eos_token_id");
        });
        assertEquals(1, absent.bosTokenId());
        assertEquals(List.of(2), absent.eosTokenIds());
        LlamaConfig none = parse("config-tinyllama", root -> {
            root.putNull("bos_token_id");
            root.putNull("eos_token_id");
        });
        assertNull(none.bosTokenId());
        assertEquals(List.of(), none.eosTokenIds());
        assertEquals(none, LlamaConfig.parse(CONFIG, none.toJson()));
    }

    @Test
    void aMistralWindowAtLeastTheContextLengthNeverAppliesAndIsAccepted() {
        LlamaConfig c = parse("config-mistral-no-window", root -> root.put("sliding_window", 32768));
        assertEquals(32768, c.maxPositionEmbeddings());
    }

    // ---- errors -------------------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
            "max_position_embeddings", "rms_norm_eps"})
    void eachMissingRequiredFieldIsNamed(String field) {
        assertError("missing required field " + field, "config-llama32-1b-instruct", root -> root.remove(field));
    }

    @Test
    void eachMissingLlama3ScalingFieldIsNamed() {
        for (String field : List.of("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")) {
            assertError("missing required field rope_scaling." + field, "config-llama32-1b-instruct",
                    root -> ((ObjectNode) root.get("rope_scaling")).remove(field));
        }
    }

    @Test
    void architectureErrorsNameTheField() {
        assertError("architectures [Qwen2ForCausalLM] has neither LlamaForCausalLM nor MistralForCausalLM", "config-tinyllama",
                root -> {
                    root.putArray("architectures").add("Qwen2ForCausalLM");
                    root.remove("model_type");
                });
        assertError("model_type is 'qwen2'; Retort reads Llama-family models (llama, mistral)", "config-tinyllama",
                root -> root.put("model_type", "qwen2"));
        assertError("missing required field architectures (or model_type)", "config-tinyllama", root -> {
            root.remove("architectures");
            root.remove("model_type");
        });
    }

    @Test
    void aMistralSlidingWindowThatAppliesIsRefused() {
        assertError("sliding_window is 4096, below max_position_embeddings 32768; Retort has no sliding-window attention",
                "config-mistral-no-window", root -> root.put("sliding_window", 4096));
        assertError("sliding_window is 4096 (transformers' default for Mistral), below max_position_embeddings 32768; "
                + "Retort has no sliding-window attention", "config-mistral-no-window", root -> root.remove("sliding_window"));
    }

    @Test
    void unsupportedSettingsAreClearErrors() {
        assertError("hidden_act is 'gelu' but Llama models use silu", "config-tinyllama", root -> root.put("hidden_act", "gelu"));
        assertError("rope_scaling type 'linear' is not supported (only default and llama3)", "config-tinyllama",
                root -> root.putObject("rope_scaling").put("type", "linear").put("factor", 2.0));
        assertError("rope_parameters type 'yarn' is not supported (only default and llama3)", "config-tinyllama",
                root -> root.putObject("rope_parameters").put("rope_type", "yarn").put("rope_theta", 1e4));
        assertError("torch_dtype is 'float64'; Retort reads float32, float16 and bfloat16", "config-tinyllama",
                root -> root.put("torch_dtype", "float64"));
    }

    @Test
    void inconsistentOrMistypedNumbersAreClearErrors() {
        assertError("num_attention_heads (32) is not a multiple of num_key_value_heads (5)", "config-tinyllama",
                root -> root.put("num_key_value_heads", 5));
        assertError("hidden_size (2048) is not a multiple of num_attention_heads (30) and there is no head_dim",
                "config-tinyllama", root -> root.put("num_attention_heads", 30).put("num_key_value_heads", 5));
        assertError("hidden_size must be an integer that fits in 32 bits but is the string \"2048\"", "config-tinyllama",
                root -> root.put("hidden_size", "2048"));
        assertError("num_hidden_layers is 0; expected 1 to 1024", "config-tinyllama", root -> root.put("num_hidden_layers", 0));
        assertError("rms_norm_eps must be positive but is -1.0E-5", "config-tinyllama", root -> root.put("rms_norm_eps", -1e-5));
        assertError("eos_token_id must be an integer that fits in 32 bits but is the string \"</s>\"", "config-tinyllama",
                root -> root.put("eos_token_id", "</s>"));
        assertError("tie_word_embeddings must be true or false but is the string \"yes\"", "config-tinyllama",
                root -> root.put("tie_word_embeddings", "yes"));
    }

    /** Sizes that would overflow what is computed from them, or ask for terabytes, are refused by name. */
    @Test
    void hugeSizesAreOneLineNamingFieldValueAndBound() {
        assertError("max_position_embeddings is 2147483647; expected 1 to 4194304", "config-tinyllama",
                root -> root.put("max_position_embeddings", 2147483647));
        assertError("vocab_size is 2147483647; expected 1 to 4194304", "config-tinyllama",
                root -> root.put("vocab_size", 2147483647));
        assertError("hidden_size is 1073741824; expected 1 to 65536", "config-tinyllama",
                root -> root.put("hidden_size", 1 << 30));
        assertError("num_hidden_layers is 100000; expected 1 to 1024", "config-tinyllama",
                root -> root.put("num_hidden_layers", 100_000));
        assertError("intermediate_size is the number 9223372036854775807; expected 1 to 262144", "config-tinyllama",
                root -> root.put("intermediate_size", Long.MAX_VALUE));
        assertError("head_dim is 2147483647; expected 1 to 4096", "config-tinyllama",
                root -> root.put("head_dim", Integer.MAX_VALUE));
    }

    @Test
    void tokenIdsOutsideTheVocabularyAreRefused() {
        assertError("bos_token_id is 2147483647; expected a token id in [0, 32000) (vocab_size 32000)", "config-tinyllama",
                root -> root.put("bos_token_id", Integer.MAX_VALUE));
        assertError("eos_token_id is -1; expected a token id in [0, 32000) (vocab_size 32000)", "config-tinyllama",
                root -> root.putArray("eos_token_id").add(2).add(-1));
        assertError("eos_token_id must be an integer that fits in 32 bits but is the number 3.5", "config-tinyllama",
                root -> root.put("eos_token_id", 3.5));
    }

    /** A config.json that is a device or a pipe is refused before a byte is read (no OOM, no hang). */
    @Test
    void aConfigThatIsNotARegularFileIsRefused() throws Exception {
        Path link = dir.resolve("config.json");
        java.nio.file.Files.createSymbolicLink(link, Path.of("/dev/zero"));
        assertEquals(link + ": is not a regular file (a device, pipe or socket); expected a file",
                assertThrows(ModelFileException.class, () -> LlamaConfig.read(dir)).getMessage());
    }

    @Test
    void unreadableFilesAreClearErrors() {
        Path missing = dir.resolve("config.json");
        assertEquals(missing + ": file not found", assertThrows(ModelFileException.class, () -> LlamaConfig.read(dir)).getMessage());
        ModelFileException notJson = assertThrows(ModelFileException.class, () -> LlamaConfig.parse(CONFIG, "{\"hidden_size\": 64,"));
        assertEquals("config.json: config is not valid JSON: ", notJson.getMessage().substring(0, 39));
        assertEquals("config.json: config must be a JSON object but is an array",
                assertThrows(ModelFileException.class, () -> LlamaConfig.parse(CONFIG, "[]")).getMessage());
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    /** The golden config {@code name} with {@code edit} applied, parsed. */
    private static LlamaConfig parse(String name, Consumer<ObjectNode> edit) {
        try {
            ObjectNode root = (ObjectNode) JSON.readTree(TestFiles.goldenText(name + ".json"));
            edit.accept(root);
            return LlamaConfig.parse(CONFIG, JSON.writeValueAsString(root));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void assertError(String problem, String name, Consumer<ObjectNode> edit) {
        ModelFileException e = assertThrows(ModelFileException.class, () -> parse(name, edit));
        assertEquals("config.json: " + problem, e.getMessage());
    }
}
