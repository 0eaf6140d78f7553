package dev.retort.distill.data;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.models.InputFiles;
import dev.retort.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads training data into tokenized {@link Example}s:
 * <ul>
 *   <li>plain text ({@code .txt} or anything not {@code .jsonl}): paragraphs separated by blank lines are the
 *       examples, each encoded with BOS (as the tokenizer config says) and closed with EOS;
 *   <li>JSONL: one object per line, {@code {"text": …}} (as a paragraph) or {@code {"prompt": …, "response": …}}
 *       where only the response tokens (and the closing EOS) are trained on.
 * </ul>
 */
public final class CorpusReader {
    private CorpusReader() {}

    public static List<Example> read(Path file, Tokenizer tokenizer) throws IOException {
        String text = InputFiles.readUtf8(file, InputFiles.DATA_BYTES, (f, problem) -> new IllegalArgumentException(f + ": " + problem));
        String name = file.getFileName().toString();
        List<Example> examples = name.endsWith(".jsonl") ? readJsonl(file, text, tokenizer) : readText(text, tokenizer);
        if (examples.isEmpty()) throw new IllegalArgumentException(file + ": no examples (the file is empty)");
        return examples;
    }

    private static List<Example> readText(String text, Tokenizer tokenizer) {
        text = text.replace("\r\n", "\n");
        List<Example> examples = new ArrayList<>();
        for (String paragraph : text.split("\n\\s*\n")) {
            String p = paragraph.strip();
            if (!p.isEmpty()) examples.add(Example.plain(withEos(tokenizer.encode(p), tokenizer)));
        }
        return examples;
    }

    private static List<Example> readJsonl(Path file, String text, Tokenizer tokenizer) {
        ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        List<Example> examples = new ArrayList<>();
        List<String> lines = text.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            JsonNode node;
            try {
                node = json.readTree(line);
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
            }
            if (!node.isObject()) throw new IllegalArgumentException(file + ":" + (i + 1) + ": expected one JSON object per line, got " + node.getNodeType());
            if (node.has("text")) {
                examples.add(Example.plain(withEos(tokenizer.encode(string(node, "text", file, i)), tokenizer)));
            } else if (node.has("prompt") && node.has("response")) {
                int[] prompt = tokenizer.encode(string(node, "prompt", file, i));
                int[] response = withEos(tokenizer.encode(string(node, "response", file, i), false, false), tokenizer);
                int[] tokens = new int[prompt.length + response.length];
                boolean[] target = new boolean[tokens.length];
                System.arraycopy(prompt, 0, tokens, 0, prompt.length);
                System.arraycopy(response, 0, tokens, prompt.length, response.length);
                for (int t = prompt.length; t < tokens.length; t++) target[t] = true;
                examples.add(new Example(tokens, target));
            } else {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": expected {\"text\": …} or {\"prompt\": …, \"response\": …}");
            }
        }
        return examples;
    }

    /** The string field {@code key}: a number, object or null there is an error naming the line, not text. */
    private static String string(JsonNode node, String key, Path file, int line) {
        JsonNode v = node.get(key);
        if (!v.isTextual()) {
            throw new IllegalArgumentException(file + ":" + (line + 1) + ": \"" + key + "\" must be a string, got " + v.getNodeType());
        }
        return v.asText();
    }

    private static int[] withEos(int[] tokens, Tokenizer tokenizer) {
        if (tokenizer.eosId() < 0) return tokens;
        int[] out = java.util.Arrays.copyOf(tokens, tokens.length + 1);
        out[tokens.length] = tokenizer.eosId();
        return out;
    }
}
