package dev.retort.distill.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** metrics.jsonl: one JSON object per line, one line per step and per evaluation, appended and flushed. */
public final class MetricsLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;

    public MetricsLog(Path file) {
        this.file = file;
    }

    public Path file() {
        return file;
    }

    /** Appends {@code values} (numbers and strings) as one line. */
    public void append(Map<String, ?> values) {
        ObjectNode node = JSON.createObjectNode();
        for (Map.Entry<String, ?> e : values.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Number n) {
                double d = n.doubleValue();
                if (v instanceof Long || v instanceof Integer) node.put(e.getKey(), n.longValue());
                else if (Double.isFinite(d)) node.put(e.getKey(), d);
                else node.putNull(e.getKey());
            } else {
                node.put(e.getKey(), String.valueOf(v));
            }
        }
        try {
            Files.writeString(file, JSON.writeValueAsString(node) + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot append metrics: " + e.getMessage(), e);
        }
    }

    /** Drops lines logged after {@code step} (a resumed run rewrites them). */
    public void truncateAfter(long step) {
        if (!Files.exists(file)) return;
        try {
            List<String> kept = new ArrayList<>();
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                if (line.isBlank()) continue;
                JsonNode row;
                try {
                    row = JSON.readTree(line);
                } catch (IOException e) {
                    if (i == lines.size() - 1) continue;   // a torn last line: what a kill in the middle of an append leaves
                    throw e;
                }
                if (row.path("step").asLong(0) <= step && !row.has("wall_s")) kept.add(line);   // the resources line is rewritten
            }
            Files.write(file, kept, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot rewrite metrics: " + e.getMessage(), e);
        }
    }

    /** Every line, parsed. */
    public List<Map<String, Object>> read() {
        List<Map<String, Object>> rows = new ArrayList<>();
        if (!Files.exists(file)) return rows;
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                @SuppressWarnings("unchecked")
                Map<String, Object> row = JSON.readValue(line, Map.class);
                rows.add(row);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read metrics: " + e.getMessage(), e);
        }
        return rows;
    }
}
