package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.experiment.Experiment.Verdict;
import dev.retort.distill.experiment.MetaCostExperiment.Growth;
import dev.retort.distill.experiment.MetaCostExperiment.QualityRow;
import dev.retort.distill.experiment.MetaCostExperiment.Shape;
import dev.retort.distill.train.ResourceUse;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * meta-cost end to end at a toy size (two teachers, every cost arm in its own JVM, every quality arm on a toy demo
 * task), and its rules: how a teacher is grown, and each verdict.
 */
class MetaCostExperimentTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void everyArmRunsAndTheRunWritesItsRowsTableFindingsAndPage() throws Exception {
        var size = new MetaCostExperiment.Size(new Shape(32, 1, 2, 2, 64), 64, 8, 2, 1, MetaCostExperiment.GROWTHS.subList(0, 2),
                new DemoTask.Size(300, 40, 300, 32, 2, 2, 1, 64, 32, 8, 20, 5), "1", 4);
        var s = MetaCostExperiment.run(tmp, size, 1, new PrintStream(OutputStream.nullOutputStream()));

        List<JsonNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(s.results())) rows.add(JSON.readTree(line));
        List<JsonNode> cost = rows.stream().filter(r -> r.get("part").asText().equals("cost")).toList();
        List<JsonNode> quality = rows.stream().filter(r -> r.get("part").asText().equals("quality")).toList();
        assertEquals(2 * MetaCostExperiment.COST_ARMS.size(), cost.size(), rows.toString());
        assertEquals(MetaCostExperiment.QUALITY_ARMS, quality.stream().map(r -> r.get("arm").asText()).toList());
        for (JsonNode r : cost) {
            assertTrue(r.get("ms_per_step").asDouble() > 0 && r.get("peak_rss_bytes").asLong() > 0 && r.get("energy_j").asDouble() > 0, r.toString());
            long state = r.get("teacher_state_bytes").asLong();
            switch (r.get("mode").asText()) {
                case "kd" -> assertEquals(0, state, r.toString());
                case "meta-full" -> assertEquals(4L * 4 * r.get("teacher_params").asLong(), state, "4 F32 copies of every teacher weight: " + r);
                default -> assertTrue(state > 0 && state < 4L * 4 * r.get("teacher_params").asLong(), r.toString());
            }
        }
        double[] ratio = cost.stream().mapToDouble(r -> r.get("teacher_params").asDouble() / r.get("student_params").asDouble()).toArray();
        assertEquals(1.0, ratio[0], "the 1x teacher has the student's shape");
        assertTrue(ratio[3] > 3.5 && ratio[3] < 4.5, "width × 1.5 and depth × 2 make about 4 times the parameters: " + ratio[3]);
        for (JsonNode r : quality) assertTrue(r.get("perplexity").asDouble() > 1 && r.get("steps").asInt() == 4, r.toString());

        List<List<String>> table = MetaCostExperiment.table(s);
        assertEquals(2 * (MetaCostExperiment.COST_ARMS.size() + 1) + MetaCostExperiment.QUALITY_ARMS.size(), table.size(), table.toString());
        table.forEach(row -> assertEquals(MetaCostExperiment.TABLE_HEADER.size(), row.size(), row.toString()));
        assertEquals("full/LoRA", table.get(3).get(2));
        assertTrue(table.get(3).get(5).matches("\\d+\\.\\dx"), "the state ratio: " + table.get(3));
        List<Experiment.Finding> findings = MetaCostExperiment.findings(s);
        assertEquals(5, findings.size(), findings.toString());
        assertTrue(findings.getFirst().measured().startsWith("full/LoRA CPU-seconds per step: ") && findings.getFirst().measured().contains("at the 4x teacher"),
                findings.getFirst().measured());
        String page = Files.readString(s.report());
        assertTrue(page.contains("Full / LoRA meta-update as the teacher grows") && page.contains("Verdict"), page);
    }

    @Test
    void aTeacherGrowsInWidthAndDepthKeepingTheHeadSize() {
        Shape student = MetaCostExperiment.Size.standard().student();
        assertEquals(new Shape(512, 8, 16, 8, 1536), student.grown(new Growth("16x", 2, 4)));
        assertEquals(new Shape(384, 4, 12, 6, 1152), student.grown(new Growth("4x", 1.5, 2)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Shape(64, 2, 4, 2, 192).grown(new Growth("x", 1.25, 1)));
        assertEquals("meta-cost: width × 1.25 gives 5 heads, not a multiple of 2 heads per key/value head", e.getMessage());
    }

    @Test
    void aSavingHoldsOnlyWhenItExceedsOneAtTheLargestTeacherAndGrows() {
        assertEquals(Verdict.HOLDS, MetaCostExperiment.scalingVerdict(new double[] {1.05, 1.2, 1.6}));
        assertEquals(Verdict.INCONCLUSIVE, MetaCostExperiment.scalingVerdict(new double[] {1.6, 1.2, 1.1}));
        assertEquals(Verdict.DOES_NOT_HOLD, MetaCostExperiment.scalingVerdict(new double[] {0.8, 0.9, 1.0}));
    }

    @Test
    void qualityHoldsWithinTheSpreadAndTheOptimizerMattersBeyondIt() {
        assertEquals(List.of(Verdict.HOLDS, Verdict.INCONCLUSIVE),
                verdicts(new double[] {1.72, 1.74}, new double[] {1.71, 1.73}, new double[] {1.71, 1.75}));
        assertEquals(List.of(Verdict.DOES_NOT_HOLD, Verdict.HOLDS),
                verdicts(new double[] {1.90, 1.91}, new double[] {1.70, 1.71}, new double[] {1.60, 1.61}));
        var s = summary(new double[] {1.90, 1.91}, new double[] {1.70, 1.71}, new double[] {1.60, 1.61});
        assertTrue(MetaCostExperiment.findings(s).getLast().measured().endsWith("; RMSprop is better by more than the spread"),
                MetaCostExperiment.findings(s).getLast().measured());
    }

    private static List<Verdict> verdicts(double[] lora, double[] full, double[] rmsprop) {
        return MetaCostExperiment.findings(summary(lora, full, rmsprop)).stream().map(Experiment.Finding::verdict).toList();
    }

    private static MetaCostExperiment.Summary summary(double[] lora, double[] full, double[] rmsprop) {
        List<QualityRow> q = new ArrayList<>();
        ResourceUse r = new ResourceUse(1, 1, 1, 1, "estimate");
        for (int i = 0; i < lora.length; i++) {
            q.add(new QualityRow("meta-lora", i + 1, lora[i], 0.9, 10, r));
            q.add(new QualityRow("meta-full", i + 1, full[i], 0.9, 10, r));
            q.add(new QualityRow("meta-lora+rmsprop", i + 1, rmsprop[i], 0.9, 10, r));
        }
        return new MetaCostExperiment.Summary(List.of(), q, 2, 1, r, null, null);
    }
}
