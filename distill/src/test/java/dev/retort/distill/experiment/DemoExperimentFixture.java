package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.demo.DemoTask;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A toy size of the demo task for the experiments' end-to-end tests, and checks of what every run writes. */
final class DemoExperimentFixture {
    private DemoExperimentFixture() {}

    /** A 4-layer teacher of width 32 trained 30 steps, students of its layers 0 and 2 trained {@code steps} steps. */
    static DemoStudents.Size tiny(int steps) {
        return new DemoStudents.Size(new DemoTask.Size(300, 40, 300, 32, 4, 2, 1, 64, 32, 8, 30, 5), "0,2", steps, 8, 3e-3, 2);
    }

    /** results.jsonl's lines, each checked to carry an arm, a seed and finite scores. */
    static List<JsonNode> results(Path file) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(file)) {
            JsonNode n = json.readTree(line);
            assertTrue(n.get("arm").isTextual() && n.get("seed").asLong() >= 1, line);
            double ppl = n.get("perplexity").asDouble(), agreement = n.get("agreement").asDouble();
            assertTrue(ppl > 1 && ppl < 1000, line);
            assertTrue(agreement >= 0 && agreement <= 1, line);
            assertTrue(n.get("kl").asDouble() >= 0 && n.get("ms_per_step").asDouble() > 0 && n.get("trainable_state_bytes").asLong() > 0, line);
            lines.add(n);
        }
        return lines;
    }

    /** The outcome's table has {@code rows} rows as wide as its header, and the report its findings. */
    static void checkTableAndReport(Experiment.Outcome o, int rows) throws IOException {
        assertEquals(rows, o.table().size(), o.table().toString());
        for (List<String> row : o.table()) assertEquals(o.header().size(), row.size(), row.toString());
        String html = Files.readString(o.report());
        assertTrue(!o.findings().isEmpty());
        for (Experiment.Finding f : o.findings()) assertTrue(html.contains("Verdict:</b> " + f.verdict().words), f.toString());
    }
}
