package dev.retort.models.llama;

import com.fasterxml.jackson.databind.JsonNode;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModuleFiles;
import dev.retort.models.hf.SafetensorsFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * A model's token pruning ({@link TokenPruning}) as two small files beside it, in the student's directory (or its
 * adapter directory):
 * <ul>
 *   <li>{@value #WEIGHTS_FILE}: {@code scorer.weight} [1 × C] and {@code scorer.bias} [1], F32 (written in every
 *       mode; only {@code learned} reads them);</li>
 *   <li>{@value #CONFIG_FILE}: {@code {"retort_type": "token_pruning", "hidden_size": C, "prune_layer": L,
 *       "keep_ratio": R, "mode": "learned"|"attention"|"random", "samples": n, "sigma": σ, "seed": s}}.</li>
 * </ul>
 * Transformers ignores both (they are not in its file set), so the student stays an ordinary Hugging Face
 * directory; Retort's {@code Llm.open} attaches the pruning when {@value #CONFIG_FILE} is there.
 */
public final class TokenPruningFiles {
    public static final String WEIGHTS_FILE = "prune_scorer.safetensors";
    public static final String CONFIG_FILE = "prune_config.json";
    public static final String TYPE = "token_pruning";

    private TokenPruningFiles() {}

    /** Whether {@code dir} holds a {@value #CONFIG_FILE}. */
    public static boolean present(Path dir) {
        return dir != null && Files.exists(dir.resolve(CONFIG_FILE));
    }

    /** Writes {@code pruning} into {@code dir} (created if needed): the weights, then the config, each atomically. */
    public static void save(Path dir, TokenPruning pruning) {
        ModuleFiles.writeParameters(dir, WEIGHTS_FILE, pruning.namedParameters(), "directory");
        TokenPruning.Settings s = pruning.settings();
        Map<String, Object> json = new TreeMap<>();
        json.put("retort_type", TYPE);
        json.put("hidden_size", pruning.scorer().inFeatures());
        json.put("prune_layer", s.layer());
        json.put("keep_ratio", s.keepRatio());
        json.put("mode", s.mode().cliName());
        json.put("samples", s.samples());
        json.put("sigma", s.sigma());
        json.put("seed", s.seed());
        ModuleFiles.writeJson(dir.resolve(CONFIG_FILE), json, "pruning config");
    }

    /**
     * Reads the pruning in {@code dir} for a model of width {@code hidden} into {@code arena}, checking every field
     * and tensor; fails with a {@link ModelFileException} naming the file.
     */
    public static TokenPruning load(Path dir, int hidden, Arena arena) {
        Path configFile = dir.resolve(CONFIG_FILE), weightsFile = dir.resolve(WEIGHTS_FILE);
        TokenPruning.Settings settings = readConfig(configFile, hidden);
        if (!Files.exists(weightsFile)) throw new ModelFileException(weightsFile, "file not found (it belongs with " + CONFIG_FILE + ")");
        TokenPruning pruning = new TokenPruning(settings, hidden, arena);
        try (SafetensorsFile file = SafetensorsFile.open(weightsFile)) {
            ModuleFiles.fill(file, weightsFile, pruning.namedParameters(),
                    extra -> "; a token scorer has scorer.weight and scorer.bias",
                    p -> "; a scorer of hidden size " + hidden + " needs " + Arrays.toString(p.shape()));
        }
        return pruning;
    }

    /** The settings in a {@value #CONFIG_FILE} for a model of width {@code hidden}. */
    public static TokenPruning.Settings readConfig(Path file, int hidden) {
        JsonNode root = ModuleFiles.readObject(file);
        JsonNode type = root.get("retort_type");
        if (type == null || !TYPE.equals(type.textValue())) throw new ModelFileException(file, "retort_type is " + type + "; expected \"" + TYPE + "\"");
        int size = integer(file, root, "hidden_size");
        if (size != hidden) throw new ModelFileException(file, "hidden_size is " + size + " but the model's is " + hidden);
        JsonNode mode = root.get("mode");
        if (mode == null || !mode.isTextual()) throw new ModelFileException(file, "mode must be a string but is " + mode);
        try {
            return new TokenPruning.Settings(integer(file, root, "prune_layer"), number(file, root, "keep_ratio"),
                    integer(file, root, "samples"), number(file, root, "sigma"), TokenPruning.Mode.parse(mode.textValue()),
                    longValue(file, root, "seed"));
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(file, e.getMessage());
        }
    }

    private static int integer(Path file, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt()) throw new ModelFileException(file, key + " must be an integer but is " + n);
        return n.intValue();
    }

    private static long longValue(Path file, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong()) throw new ModelFileException(file, key + " must be an integer but is " + n);
        return n.longValue();
    }

    private static double number(Path file, JsonNode root, String key) {
        JsonNode n = root.get(key);
        if (n == null || !n.isNumber()) throw new ModelFileException(file, key + " must be a number but is " + n);
        return n.doubleValue();
    }
}
