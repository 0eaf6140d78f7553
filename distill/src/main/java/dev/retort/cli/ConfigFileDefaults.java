package dev.retort.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Options from a run file ({@code --config run.json} or {@code run.yaml}): keys are the long option names without
 * dashes, in kebab-case or snake_case ({@code {"kd-loss": "rkl", "lora_rank": 32}}), or the names Hugging Face's
 * trainers, PEFT and TRL give the same settings ({@code lora_r}, {@code learning_rate}, {@code target_modules},
 * ... see {@link #ALIASES}). A flag given on the command line wins over the file; an unknown key is an error
 * naming it, so a typo never silently does nothing. Files ending in .yaml or .yml are read as YAML (with
 * jackson-dataformat-yaml), anything else as JSON.
 */
final class ConfigFileDefaults {
    private ConfigFileDefaults() {}

    /** Names other tools use for Retort's options (after snake_case → kebab-case), to the option they mean. */
    static final Map<String, String> ALIASES = Map.ofEntries(
            Map.entry("lora-r", "lora-rank"),
            Map.entry("r", "lora-rank"),
            Map.entry("target-modules", "lora-targets"),
            Map.entry("use-rslora", "rslora"),
            Map.entry("learning-rate", "lr"),
            Map.entry("num-train-epochs", "epochs"),
            Map.entry("per-device-train-batch-size", "batch-size"),
            Map.entry("gradient-accumulation-steps", "grad-accum"),
            Map.entry("max-grad-norm", "clip"),
            Map.entry("output-dir", "out"),
            Map.entry("max-seq-length", "seq-len"),
            Map.entry("max-length", "seq-len"));

    static void apply(CommandLine.Model.CommandSpec spec, Path file) {
        if (file == null) return;
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean yaml = name.endsWith(".yaml") || name.endsWith(".yml");
        String source = dev.retort.models.InputFiles.readUtf8(file, dev.retort.models.InputFiles.JSON_CONFIG_BYTES,
                (f, problem) -> new IllegalArgumentException("--config " + f + ": " + problem));
        JsonNode root;
        try {
            root = (yaml ? new ObjectMapper(new YAMLFactory()) : new ObjectMapper()).readTree(source);
        } catch (IOException e) {
            throw new IllegalArgumentException("--config " + file + ": " + e.getMessage().lines().findFirst().orElse("unreadable"));
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("--config " + file + ": expected a " + (yaml ? "YAML mapping" : "JSON object") + " of option names to values");
        }
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey().trim().replace('_', '-');
            String flag = "--" + ALIASES.getOrDefault(key, key);
            OptionSpec option = spec.findOption(flag);
            if (option == null || flag.equals("--config")) {
                throw new IllegalArgumentException("--config " + file + ": unknown option '" + e.getKey() + "'");
            }
            if (parsed.hasMatchedOption(flag)) continue;  // the command line wins
            JsonNode v = e.getValue();
            String text = v.isArray() ? joined(v) : v.asText();
            Class<?> type = option.type();
            Object value;
            try {
                if (type == int.class || type == Integer.class) value = Integer.parseInt(text);
                else if (type == long.class || type == Long.class) value = Long.parseLong(text);
                else if (type == double.class || type == Double.class) value = Double.parseDouble(text);
                else if (type == float.class || type == Float.class) value = Float.parseFloat(text);
                else if (type == boolean.class || type == Boolean.class) value = v.asBoolean();
                else if (type == Path.class) value = file.toAbsolutePath().getParent().resolve(text).normalize();
                else value = text;
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("--config " + file + ": '" + e.getKey() + "' should be a number, got " + v);
            }
            option.setValue(value);
        }
    }

    private static String joined(JsonNode array) {
        StringBuilder s = new StringBuilder();
        for (JsonNode item : array) s.append(s.isEmpty() ? "" : ",").append(item.asText());
        return s.toString();
    }
}
