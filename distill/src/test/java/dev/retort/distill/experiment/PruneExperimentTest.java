package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every arm of the pruning experiment end to end at a toy size: the teacher, an unpruned student and one student per
 * pruning mode are trained and scored, and the rows, the table and both findings come out. (The numbers at this size
 * mean nothing; the recorded measurement is the standard size.)
 */
class PruneExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void everyArmRunsAndIsScored() throws Exception {
        var size = new PruneExperiment.Size(40, 2, 200, 60, 8, 300, 32, 2, 2, 1, 64, 288, 4, 3, 6, 6, 1e-3, 4, 1, List.of(0.5), PruneExperiment.Size.pruning(4));
        Experiment.Outcome o = PruneExperiment.run(tmp, size, 1, new PrintStream(OutputStream.nullOutputStream()));
        List<String> lines = Files.readAllLines(o.results());
        assertEquals(5, lines.size(), "teacher, unpruned, learned, attention, random: " + lines);
        ObjectMapper json = new ObjectMapper();
        JsonNode unpruned = json.readTree(lines.get(1)), learned = json.readTree(lines.get(2));
        assertEquals("unpruned", unpruned.get("model").asText());
        assertEquals("learned keep 0.5", learned.get("model").asText());
        double cosine = learned.get("scorer_cosine_to_init").asDouble();
        assertTrue(cosine > 0 && cosine < 0.9999, "the learned scorer moved from its initialisation: cosine " + cosine);
        assertTrue(unpruned.get("scorer_cosine_to_init") == null, "only learned arms have a scorer: " + lines.get(1));
        assertTrue(learned.get("kv_cache_bytes").asDouble() < unpruned.get("kv_cache_bytes").asDouble(),
                "the pruned student's KV cache holds fewer rows: " + lines);
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            assertEquals(8, n.get("questions").asInt());
            assertTrue(n.get("exact_match").asDouble() >= 0 && n.get("exact_match").asDouble() <= 1, line);
            assertTrue(n.get("prefill_ms").asDouble() > 0, line);
        }
        assertEquals(List.of("teacher", "unpruned", "learned keep 0.5", "attention keep 0.5", "random keep 0.5"),
                o.table().stream().map(List::getFirst).toList());
        assertEquals(2, o.findings().size(), o.findings().toString());
        assertTrue(o.findings().get(1).measured().startsWith("at keep ratio 0.5 from layer 1 of 2: prefill "), o.findings().get(1).measured());
        assertTrue(Files.readString(o.report()).contains("Claim:"));
        assertTrue(Files.exists(tmp.resolve("student-learned-keep-0.5-1/student/prune_config.json")), "the scorer is saved with the student");
    }
}
