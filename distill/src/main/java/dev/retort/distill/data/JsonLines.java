package dev.retort.distill.data;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.models.InputFiles;
import dev.retort.models.tokenizer.ChatTemplate;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The data files Retort reads, strictly: a text file (through {@link InputFiles}: a regular file, bounded, UTF-8),
 * or JSONL with exactly one JSON object per line, whose fields are checked one by one with errors naming the file
 * and line. A Parquet file (a Hugging Face dataset's usual download) is recognised and refused with what to do.
 */
public final class JsonLines {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private JsonLines() {}

    /** One line's object and its number in the file, from 1. */
    public record Line(Path file, int number, JsonNode object) {
        /** "file:line: " for messages. */
        public String where() {
            return file + ":" + number + ": ";
        }

        /** The string field {@code key}: anything else there is an error naming the line. */
        public String string(String key) {
            JsonNode v = object.get(key);
            if (v == null || !v.isTextual()) {
                throw new IllegalArgumentException(where() + "\"" + key + "\" must be a string, got " + (v == null ? "nothing" : v.getNodeType()));
            }
            return v.asText();
        }

        /** {@code template}, which a conversation on this line needs: the model's chat template, or an error naming the line. */
        public ChatTemplate requireTemplate(ChatTemplate template) {
            if (template == null) {
                throw new IllegalArgumentException(where() + "a conversation needs the model's chat template, and its "
                        + "tokenizer_config.json has no \"chat_template\"");
            }
            return template;
        }

        /** The conversation in field {@code key}: a list of {"role": string, "content": string}. */
        public List<ChatTemplate.Message> messages(String key) {
            JsonNode list = object.get(key);
            if (list == null || !list.isArray() || list.isEmpty()) {
                throw new IllegalArgumentException(where() + "\"" + key + "\" must be a non-empty list of {\"role\", \"content\"} messages");
            }
            List<ChatTemplate.Message> out = new ArrayList<>();
            for (JsonNode m : list) {
                if (!m.isObject() || !m.path("role").isTextual() || !m.path("content").isTextual()) {
                    throw new IllegalArgumentException(where() + "each message of \"" + key + "\" must be {\"role\": string, \"content\": string}, got " + m);
                }
                out.add(new ChatTemplate.Message(m.get("role").asText(), m.get("content").asText()));
            }
            return out;
        }
    }

    /** The whole file as UTF-8 text, after refusing Parquet. */
    public static String text(Path file) throws IOException {
        refuseParquet(file);
        return InputFiles.readUtf8(file, InputFiles.DATA_BYTES, (f, problem) -> new IllegalArgumentException(f + ": " + problem));
    }

    /** Every non-blank line of {@code text} (the contents of {@code file}) as an object. */
    public static List<Line> parse(Path file, String text) {
        List<Line> out = new ArrayList<>();
        List<String> lines = text.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            JsonNode node;
            try {
                node = JSON.readTree(line);
            } catch (IOException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
            }
            if (!node.isObject()) throw new IllegalArgumentException(file + ":" + (i + 1) + ": expected one JSON object per line, got " + node.getNodeType());
            out.add(new Line(file, i + 1, node));
        }
        return out;
    }

    private static void refuseParquet(Path file) throws IOException {
        if (!Files.isRegularFile(file) || Files.size(file) < 4) return;
        byte[] head = new byte[4];
        try (var in = Files.newInputStream(file)) {
            if (in.readNBytes(head, 0, 4) < 4) return;
        }
        if (head[0] == 'P' && head[1] == 'A' && head[2] == 'R' && head[3] == '1') {
            throw new IllegalArgumentException(file + ": a Parquet file; Retort reads JSONL or text. Convert it first, e.g. "
                    + "python -c \"import pandas; pandas.read_parquet('" + file.getFileName() + "').to_json('data.jsonl', orient='records', lines=True)\"");
        }
    }
}
