package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.qa.QaEvaluation;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13's ablation end to end at a toy size (a teacher of ten steps, students of three): every arm trains and is
 * scored, one results.jsonl line per arm, a table row per arm and every claim judged. What the numbers say at this
 * size means nothing; the recorded run is bench/RESULTS.md's.
 */
class ProgressiveExperimentTest {
    private static final List<String> ARMS = List.of(ProgressiveExperiment.TEACHER, ProgressiveExperiment.FULL, ProgressiveExperiment.NEO,
            ProgressiveExperiment.SEQKD, ProgressiveExperiment.BOTTLENECK, ProgressiveExperiment.NO_REPRESENTATIONS,
            ProgressiveExperiment.UNIFORM_TEMPLATES, ProgressiveExperiment.NO_TEMPLATES, ProgressiveExperiment.MERGED);

    @TempDir
    Path tmp;

    @Test
    void everyArmTrainsAndIsScoredOnTheHeldOutGoldQuestions() throws Exception {
        var size = new ProgressiveExperiment.Size(new QaWorld.Size(30, 10, 200, 300, 32, 2, 2, 1, 64, 128, 4, 10), "0", 3, 6);
        ProgressiveExperiment.Summary s = ProgressiveExperiment.run(tmp, size, 1, new PrintStream(OutputStream.nullOutputStream()));

        List<JsonNode> lines = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(s.results())) lines.add(json.readTree(line));
        assertEquals(ARMS, lines.stream().map(l -> l.get("arm").asText()).toList());
        for (JsonNode l : lines) {
            assertEquals(10, l.get("questions").asInt(), l.toString());
            double f1 = l.get("f1").asDouble(), em = l.get("exact_match").asDouble();
            assertTrue(em >= 0 && em <= f1 && f1 <= 1, l.toString());
            boolean student = !l.get("arm").asText().equals(ProgressiveExperiment.TEACHER);
            assertEquals(student, l.get("training_cpu_s").asDouble() > 0, l.toString());
            boolean readsText = l.get("arm").asText().equals(ProgressiveExperiment.NEO) || l.get("arm").asText().equals(ProgressiveExperiment.SEQKD);
            assertEquals(readsText, l.get("teacher_text_cpu_s").asDouble() > 0, "only neo and seqkd read the teacher's written text: " + l);
        }
        assertTrue(Files.exists(tmp.resolve("student-progressive-phases-merged-1/adapter")), "a student's run is kept");
        assertTrue(Files.exists(tmp.resolve("student-progressive-bottleneck-adapters-1/adapter/adapter_config.json")));

        List<List<String>> table = ProgressiveExperiment.table(s.rows());
        assertEquals(ARMS, table.stream().map(List::getFirst).toList());
        assertTrue(table.stream().allMatch(r -> r.size() == ProgressiveExperiment.TABLE_HEADER.size()));

        List<Experiment.Finding> findings = ProgressiveExperiment.findings(s.rows());
        assertEquals(6, findings.size());
        for (Experiment.Finding f : findings) assertTrue(f.measured().startsWith("F1 on the held-out gold questions "), f.measured());
        String html = Files.readString(s.report());
        assertTrue(html.contains(findings.getFirst().claim()) && html.contains("phases merged"), "the report has the findings and the table");
    }

    @Test
    void aClaimHoldsOnlyWhenItsArmBeatsTheOtherByMoreThanTheSpread() {
        assertEquals(Experiment.Verdict.HOLDS, neoFinding(new double[] {0.5, 0.6}, new double[] {0.3, 0.35}).verdict());
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, neoFinding(new double[] {0.3, 0.35}, new double[] {0.5, 0.6}).verdict());
        assertEquals(Experiment.Verdict.INCONCLUSIVE, neoFinding(new double[] {0.3, 0.6}, new double[] {0.4, 0.45}).verdict());
        assertEquals("F1 on the held-out gold questions 0.550 ± 0.071 (progressive) against 0.325 ± 0.035 (neo), over 2 seed(s)",
                neoFinding(new double[] {0.5, 0.6}, new double[] {0.3, 0.35}).measured());
    }

    @Test
    void theExperimentIsListed() {
        assertInstanceOf(ProgressiveExperiment.class, Experiments.named("progressive"));
    }

    /** The first finding (progressive against neo) of rows with these F1s per seed. */
    private static Experiment.Finding neoFinding(double[] progressive, double[] neo) {
        List<ProgressiveExperiment.Row> rows = new ArrayList<>();
        for (int i = 0; i < progressive.length; i++) {
            rows.add(row(i + 1, ProgressiveExperiment.FULL, progressive[i]));
            rows.add(row(i + 1, ProgressiveExperiment.NEO, neo[i]));
        }
        List<Experiment.Finding> f = ProgressiveExperiment.findings(rows);
        assertEquals(1, f.size(), "only the claim whose two arms ran");
        return f.getFirst();
    }

    private static ProgressiveExperiment.Row row(long seed, String arm, double f1) {
        return new ProgressiveExperiment.Row(seed, arm, new QaEvaluation.Scores(arm, 10, 0, f1, 1, 0), 0, 1, 0);
    }
}
