package dev.retort.models.adapter;

import com.fasterxml.jackson.databind.JsonNode;
import dev.retort.autograd.Parameter;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModuleFiles;
import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.llama.LlamaModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/**
 * Bottleneck adapters as a directory of their own, beside the base model they adapt:
 * <ul>
 *   <li>{@value #WEIGHTS_FILE}: every adapter's {@code <layer>.<block>.adapter.down.weight} [size × C],
 *       {@code ....down.bias} [size], {@code ....up.weight} [C × size], {@code ....up.bias} [C], F32;
 *   <li>{@value #CONFIG_FILE}: {@code {"adapter_type": "retort_bottleneck", "base_model_name_or_path": …,
 *       "bottleneck_size": N, "non_linearity": "silu", "placement": "attention"|"mlp"|"both"}}.
 * </ul>
 * The file names are PEFT's, so one {@code --adapter DIR} takes either kind, but the format is Retort's own: PEFT
 * has no bottleneck adapters (its adapter types are LoRA and its relatives, IA³, prompt and prefix tuning and
 * the like), and AdapterHub's {@code adapters} library, which has them, pickles its own names. The config
 * therefore has no {@code peft_type}: PEFT refuses it rather than misreading it, and {@code adapter_type} is
 * what {@link #holdsBottleneck} looks for. Adapters are never merged (see {@link BottleneckAdapter}); loading
 * attaches them as modules.
 */
public final class BottleneckFiles {
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    public static final String CONFIG_FILE = "adapter_config.json";
    /** The {@code adapter_type} of this format. */
    public static final String TYPE = "retort_bottleneck";
    /** The one nonlinearity there is ({@link BottleneckAdapter}). */
    public static final String NON_LINEARITY = "silu";

    private BottleneckFiles() {}

    /**
     * Writes {@code adapters} into {@code dir} (created if needed): the weights first, then the config, each
     * atomically. {@code baseModelNameOrPath} (may be null) is recorded as {@code base_model_name_or_path}.
     */
    public static void save(Path dir, BottleneckModel adapters, String baseModelNameOrPath) {
        ModuleFiles.writeParameters(dir, WEIGHTS_FILE, adapters.namedParameters(), "adapter directory");
        Map<String, Object> json = new TreeMap<>();
        json.put("adapter_type", TYPE);
        json.put("base_model_name_or_path", baseModelNameOrPath);
        json.put("bottleneck_size", adapters.config().size());
        json.put("non_linearity", NON_LINEARITY);
        json.put("placement", adapters.config().placement().cliName());
        ModuleFiles.writeJson(dir.resolve(CONFIG_FILE), json, "adapter config");
    }

    /** Whether {@code dir} holds an {@value #CONFIG_FILE} of this format (false when it cannot be read at all). */
    public static boolean holdsBottleneck(Path dir) {
        Path file = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(file)) return false;
        try {
            JsonNode type = root(file).get("adapter_type");
            return type != null && TYPE.equals(type.textValue());
        } catch (ModelFileException e) {
            return false;   // the LoRA reader reports what is wrong with it
        }
    }

    /** Reads the adapters in {@code dir} and attaches them to {@code model} as modules (seed 0). */
    public static BottleneckModel load(Path dir, LlamaModel model) {
        return load(dir, model, 0);
    }

    /**
     * Reads the adapters in {@code dir}, attaches them ({@link BottleneckModel#attach}, which freezes the
     * model) and fills them, checking every tensor's name and shape; {@code seed} is their config's seed, which only
     * a fresh adapter uses. When any check fails they are detached again and the model is as it was.
     */
    public static BottleneckModel load(Path dir, LlamaModel model, long seed) {
        if (!Files.isDirectory(dir)) throw new ModelFileException(dir, "is not an adapter directory");
        Path weightsFile = dir.resolve(WEIGHTS_FILE);
        if (!Files.exists(weightsFile)) throw new ModelFileException(weightsFile, "file not found");
        BottleneckConfig config = readConfig(dir.resolve(CONFIG_FILE), seed);
        int hidden = model.config().hiddenSize();
        try (SafetensorsFile file = SafetensorsFile.open(weightsFile)) {
            BottleneckModel adapters = BottleneckModel.attach(model, config);   // its parameters name what the file must hold
            try {
                Map<String, Parameter> expected = adapters.namedParameters();
                ModuleFiles.fill(file, weightsFile, expected,
                        extra -> " (" + extra.size() + " such): " + config.placement().cliName() + " adapters on this "
                                + model.layers().size() + "-layer model have " + expected.size() + " tensors",
                        p -> " but bottleneck_size " + config.size() + " on a model of hidden size " + hidden + " needs "
                                + Arrays.toString(p.shape()));
                return adapters;
            } catch (RuntimeException e) {
                adapters.detach();
                throw e;
            }
        }
    }

    /** The settings of an {@value #CONFIG_FILE} of this format. */
    public static BottleneckConfig readConfig(Path file, long seed) {
        JsonNode root = root(file);
        JsonNode type = root.get("adapter_type");
        if (type == null || !TYPE.equals(type.textValue())) {
            throw new ModelFileException(file, "adapter_type is " + type + "; expected \"" + TYPE + "\"");
        }
        JsonNode size = root.get("bottleneck_size");
        if (size == null || !size.isIntegralNumber() || !size.canConvertToInt()) {
            throw new ModelFileException(file, "bottleneck_size must be an integer but is " + size);
        }
        JsonNode nonLinearity = root.get("non_linearity");
        if (nonLinearity == null || !NON_LINEARITY.equals(nonLinearity.textValue())) {
            throw new ModelFileException(file, "non_linearity is " + nonLinearity + "; Retort's bottleneck adapters use \"" + NON_LINEARITY + "\"");
        }
        JsonNode placement = root.get("placement");
        if (placement == null || !placement.isTextual()) throw new ModelFileException(file, "placement must be a string but is " + placement);
        try {
            return new BottleneckConfig(size.intValue(), BottleneckConfig.Placement.parse(placement.textValue()), seed);
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(file, e.getMessage());
        }
    }

    private static JsonNode root(Path file) {
        return ModuleFiles.readObject(file);
    }
}
