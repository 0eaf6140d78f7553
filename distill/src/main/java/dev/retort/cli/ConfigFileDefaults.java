package dev.retort.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Options from a JSON file ({@code --config run.json}): keys are the long option names without dashes
 * ({@code {"kd-loss": "rkl", "lora-rank": 32}}). A flag given on the command line wins over the file; an
 * unknown key is an error naming it, so a typo never silently does nothing.
 */
final class ConfigFileDefaults {
    private ConfigFileDefaults() {}

    static void apply(CommandLine.Model.CommandSpec spec, Path file) {
        if (file == null) return;
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException("--config " + file + ": " + e.getMessage().lines().findFirst().orElse("unreadable"));
        }
        if (root == null || !root.isObject()) throw new IllegalArgumentException("--config " + file + ": expected a JSON object");
        CommandLine.ParseResult parsed = spec.commandLine().getParseResult();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = "--" + e.getKey();
            OptionSpec option = spec.findOption(name);
            if (option == null || name.equals("--config")) {
                throw new IllegalArgumentException("--config " + file + ": unknown option '" + e.getKey() + "'");
            }
            if (parsed.hasMatchedOption(name)) continue;  // the command line wins
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
