package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What {@code tokenizer_config.json} says about BOS and EOS; {@code null} fields are not said. Transformers
 * lets {@code add_bos_token} and {@code add_eos_token} override the tokenizer's own post-processor.
 */
record TokenizerConfig(Boolean addBosToken, Boolean addEosToken, String bosToken, String eosToken) {

    static final TokenizerConfig NONE = new TokenizerConfig(null, null, null, null);

    /** Reads the file, or returns {@link #NONE} when it does not exist. */
    static TokenizerConfig readIfPresent(Path file) throws IOException {
        if (file == null || !Files.exists(file)) {
            return NONE;
        }
        JsonNode json = Json.read(file);
        if (!json.isObject()) {
            throw new TokenizerFileException(file, "is not a JSON object");
        }
        return new TokenizerConfig(bool(json, "add_bos_token", file), bool(json, "add_eos_token", file),
                tokenText(json, "bos_token", file), tokenText(json, "eos_token", file));
    }

    private static Boolean bool(JsonNode json, String field, Path file) throws TokenizerFileException {
        JsonNode value = json.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isBoolean()) {
            throw new TokenizerFileException(file, "'" + field + "' is " + value + ", not true or false");
        }
        return value.asBoolean();
    }

    /** A special token given as its text or as an AddedToken object with "content". */
    private static String tokenText(JsonNode json, String field, Path file) throws TokenizerFileException {
        JsonNode value = json.get(field);
        if (value == null || value.isNull()) {
            return null;
        }
        if (value.isTextual()) {
            return value.asText();
        }
        if (value.isObject() && value.path("content").isTextual()) {
            return value.get("content").asText();
        }
        throw new TokenizerFileException(file, "'" + field + "' is " + value + ", not a token text");
    }
}
