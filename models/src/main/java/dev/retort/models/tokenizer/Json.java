package dev.retort.models.tokenizer;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reads a JSON file into a tree, turning parse errors into one line that names the file and position. */
final class Json {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    static JsonNode read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            JsonNode tree = MAPPER.readTree(in);
            if (tree == null || tree.isMissingNode()) {
                throw new TokenizerFileException(file, "is empty, expected JSON");
            }
            return tree;
        } catch (NoSuchFileException e) {
            throw new TokenizerFileException(file, "does not exist");
        } catch (JsonProcessingException e) {
            JsonLocation where = e.getLocation();
            String position = where == null ? "" : " at line " + where.getLineNr() + " column " + where.getColumnNr();
            throw new TokenizerFileException(file, "is not valid JSON" + position + ": " + e.getOriginalMessage(), e);
        }
    }
}
