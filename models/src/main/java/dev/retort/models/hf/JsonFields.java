package dev.retort.models.hf;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.file.Path;

/**
 * Strict JSON parsing and typed field access for the small JSON files of a model directory (safetensors
 * headers, shard indexes, config.json). Every failure is a {@link ModelFileException} naming the file and the
 * field, so the readers above stay free of error plumbing.
 */
final class JsonFields {
    /**
     * Duplicate keys are rejected: two entries for one tensor name would let two readers of the same file see
     * different tensors. Trailing content after the root value is rejected for the same reason.
     */
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private JsonFields() {}

    /** Parses {@code text} and requires the root to be a JSON object. */
    static JsonNode parseObject(Path file, String text, String what) {
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JacksonException e) {
            throw new ModelFileException(file, what + " is not valid JSON: " + describe(e), e);
        }
        if (root == null || root.isMissingNode()) throw new ModelFileException(file, what + " is empty");
        if (!root.isObject()) {
            throw new ModelFileException(file, what + " must be a JSON object but is " + kind(root));
        }
        return root;
    }

    /** The field as an int; {@code field} is its path for messages, e.g. "rope_scaling.factor". */
    static int intValue(Path file, String field, JsonNode node) {
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw new ModelFileException(file, field + " must be an integer that fits in 32 bits but is " + kind(node));
        }
        return node.intValue();
    }

    static long longValue(Path file, String field, JsonNode node) {
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw new ModelFileException(file, field + " must be an integer that fits in 64 bits but is " + kind(node));
        }
        return node.longValue();
    }

    /** A JSON number (integer or not) as a double. */
    static double doubleValue(Path file, String field, JsonNode node) {
        if (!node.isNumber()) throw new ModelFileException(file, field + " must be a number but is " + kind(node));
        return node.doubleValue();
    }

    static boolean booleanValue(Path file, String field, JsonNode node) {
        if (!node.isBoolean()) throw new ModelFileException(file, field + " must be true or false but is " + kind(node));
        return node.booleanValue();
    }

    static String stringValue(Path file, String field, JsonNode node) {
        if (!node.isTextual()) throw new ModelFileException(file, field + " must be a string but is " + kind(node));
        return node.textValue();
    }

    static JsonNode objectValue(Path file, String field, JsonNode node) {
        if (!node.isObject()) throw new ModelFileException(file, field + " must be a JSON object but is " + kind(node));
        return node;
    }

    static JsonNode arrayValue(Path file, String field, JsonNode node) {
        if (!node.isArray()) throw new ModelFileException(file, field + " must be a JSON array but is " + kind(node));
        return node;
    }

    /** The member {@code name} of {@code object}, or an error naming the missing field. */
    static JsonNode required(Path file, JsonNode object, String name) {
        JsonNode value = object.get(name);
        if (value == null) throw new ModelFileException(file, "missing required field " + name);
        return value;
    }

    /** Like {@link #required(Path, JsonNode, String)} for a member of a nested object described by {@code owner}. */
    static JsonNode required(Path file, JsonNode object, String name, String owner) {
        JsonNode value = object.get(name);
        if (value == null) throw new ModelFileException(file, owner + " is missing field " + name);
        return value;
    }

    /** Short description of a value for error messages: its type and, when short, the value itself. */
    static String kind(JsonNode node) {
        String type = switch (node.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case STRING -> "the string";
            case NUMBER -> "the number";
            case BOOLEAN -> "the boolean";
            case NULL -> "null";
            default -> node.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
        };
        if (node.isContainerNode() || node.isNull()) return type;
        String text = node.toString();
        return type + " " + (text.length() > 40 ? text.substring(0, 40) + "…" : text);
    }

    /**
     * A name from a file, quoted for a one-line message: control characters escaped, very long names cut, so a
     * hostile name cannot break or flood the message.
     */
    static String quote(String name) {
        StringBuilder out = new StringBuilder(Math.min(name.length(), 120) + 2).append('\'');
        for (int i = 0; i < name.length(); i++) {
            if (out.length() > 120) {
                out.append("…");
                break;
            }
            char c = name.charAt(i);
            if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('\'').toString();
    }

    /** Jackson's message without its source excerpt, on one line, with the line and column. */
    private static String describe(JacksonException e) {
        String message = e.getOriginalMessage() == null ? e.getClass().getSimpleName() : e.getOriginalMessage();
        message = message.replaceAll("\\s+", " ").strip();
        JsonLocation at = e.getLocation();
        if (at != null && at.getLineNr() > 0) message += " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
        return message;
    }
}
