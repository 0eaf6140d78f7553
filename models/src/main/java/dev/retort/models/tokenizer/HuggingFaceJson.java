package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** Reading fields of a {@code tokenizer.json} with errors that name the file and the field. */
final class HuggingFaceJson {

    private HuggingFaceJson() {}

    static String requiredText(JsonNode json, String field, Path file, String where) throws TokenizerFileException {
        JsonNode value = json.get(field);
        if (value == null || !value.isTextual()) {
            throw new TokenizerFileException(file, where + " has no text field '" + field + "'");
        }
        return value.asText();
    }

    static JsonNode requiredArray(JsonNode json, String field, Path file, String where) throws TokenizerFileException {
        JsonNode value = json.get(field);
        if (value == null || !value.isArray()) {
            throw new TokenizerFileException(file, where + " has no array field '" + field + "'");
        }
        return value;
    }

    static boolean flag(JsonNode json, String field, boolean fallback) {
        JsonNode value = json.get(field);
        return value == null || value.isNull() ? fallback : value.asBoolean();
    }

    /**
     * A {@code {"String": s}} or {@code {"Regex": r}} pattern as a Java regex. HF runs Oniguruma; the regexes
     * tokenizers use (\p{L}, \p{N}, (?i:...), lookahead) mean the same in java.util.regex once \s is made to
     * mean Unicode White_Space, which UNICODE_CHARACTER_CLASS does.
     */
    static Pattern pattern(JsonNode json, Path file, String where) throws TokenizerFileException {
        if (json != null && json.get("String") != null && json.get("String").isTextual()) {
            return Pattern.compile(Pattern.quote(json.get("String").asText()));
        }
        if (json != null && json.get("Regex") != null && json.get("Regex").isTextual()) {
            String regex = json.get("Regex").asText();
            try {
                return Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS);
            } catch (PatternSyntaxException e) {
                throw new TokenizerFileException(file, where + " regex " + regex
                        + " is not valid for java.util.regex: " + e.getDescription());
            }
        }
        throw new TokenizerFileException(file, where + " has no pattern {\"String\": ...} or {\"Regex\": ...}");
    }
}
