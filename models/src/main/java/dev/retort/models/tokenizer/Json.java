package dev.retort.models.tokenizer;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.models.InputFiles;
import java.io.IOException;
import java.nio.file.Path;

/** Reads a JSON file into a tree, turning parse errors into one line that names the file and position. */
final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    static JsonNode read(Path file) throws IOException {
        byte[] bytes = InputFiles.readBytes(file, InputFiles.TOKENIZER_BYTES, TokenizerFileException::new);
        try {
            JsonNode tree = MAPPER.readTree(bytes);
            if (tree == null || tree.isMissingNode()) {
                throw new TokenizerFileException(file, "is empty, expected JSON");
            }
            return tree;
        } catch (JsonProcessingException e) {
            JsonLocation where = e.getLocation();
            String position = where == null ? "" : " at line " + where.getLineNr() + " column " + where.getColumnNr();
            throw new TokenizerFileException(file, "is not valid JSON" + position + ": " + e.getOriginalMessage(), e);
        }
    }
}
