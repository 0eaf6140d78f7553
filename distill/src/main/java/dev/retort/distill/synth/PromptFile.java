package dev.retort.distill.synth;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The prompts of a {@code generate-data} run: a {@code .jsonl} file of objects with a string {@code "prompt"}
 * (other fields, such as a dataset's own response, are ignored), or any other file as plain text with one
 * prompt per non-empty line.
 */
public final class PromptFile {
    private PromptFile() {}

    public static List<String> read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException("--prompts " + file + ": no such file");
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("--prompts " + file + ": not UTF-8 text; convert it to UTF-8 first");
        }
        boolean jsonl = file.getFileName().toString().endsWith(".jsonl");
        ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            if (!jsonl) {
                prompts.add(line);
                continue;
            }
            JsonNode node;
            try {
                node = json.readTree(line);
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
            }
            JsonNode prompt = node.isObject() ? node.get("prompt") : null;
            if (prompt == null || !prompt.isTextual()) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": expected an object with a string \"prompt\"");
            }
            prompts.add(prompt.asText());
        }
        if (prompts.isEmpty()) throw new IllegalArgumentException("--prompts " + file + ": no prompts (the file is empty)");
        return prompts;
    }
}
