package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The student-layer × teacher-layer grid end to end at toy size, and the verdict rules on made-up perplexities. */
class FeatureLayersExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void everyCellOfTheGridAndTheLogitsOnlyStudentTrain() throws Exception {
        Experiment.Outcome o = FeatureLayersExperiment.run(tmp, DemoExperimentFixture.tiny(3), 1, new PrintStream(OutputStream.nullOutputStream()));
        List<JsonNode> lines = DemoExperimentFixture.results(o.results());
        assertEquals(9, lines.size());
        assertEquals("logits only", lines.getFirst().get("arm").asText());
        assertEquals(1, lines.get(8).get("student_layer").asInt());
        assertEquals(3, lines.get(8).get("teacher_layer").asInt());
        DemoExperimentFixture.checkTableAndReport(o, 9);
        assertEquals(2, o.findings().size());
        assertTrue(Files.readString(o.report()).contains("Held-out perplexity by student layer"));
    }

    @Test
    void theSameRelativeDepthIsTheLastOfEachStudentLayersShare() {
        assertEquals(1, FeatureLayersExperiment.proportional(0, 2, 4));
        assertEquals(3, FeatureLayersExperiment.proportional(1, 2, 4));
        assertEquals(5, FeatureLayersExperiment.proportional(2, 3, 6));
    }

    @Test
    void theDepthClaimHoldsOnlyWhenTheSameDepthWinsForEveryStudentLayer() {
        // student layer 0 best at teacher 1, student layer 1 best at teacher 3: holds; features beat logits alone
        List<Experiment.Finding> f = FeatureLayersExperiment.findings(rows(new double[][] {{1.9, 1.7, 1.8, 1.9}, {1.9, 1.8, 1.8, 1.6}}, 1.85), 2, 4);
        assertEquals(Experiment.Verdict.HOLDS, f.get(0).verdict(), f.get(0).measured());
        assertEquals(Experiment.Verdict.HOLDS, f.get(1).verdict(), f.get(1).measured());
        // student layer 1 does clearly better with teacher layer 2: does not hold; logits alone are best
        f = FeatureLayersExperiment.findings(rows(new double[][] {{1.9, 1.7, 1.8, 1.9}, {1.9, 1.8, 1.6, 1.7}}, 1.5), 2, 4);
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, f.get(0).verdict(), f.get(0).measured());
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, f.get(1).verdict());
        // a tie within the spread for one student layer: inconclusive
        f = FeatureLayersExperiment.findings(rows(new double[][] {{1.9, 1.7, 1.8, 1.9}, {1.9, 1.8, 1.601, 1.6}}, 1.85), 2, 4);
        assertEquals(Experiment.Verdict.INCONCLUSIVE, f.get(0).verdict(), f.get(0).measured());
    }

    /** Two seeds (± 0.005) per cell, and the logits-only student. */
    private static List<DemoStudents.Row> rows(double[][] perplexity, double logitsOnly) {
        List<DemoStudents.Row> rows = new ArrayList<>();
        for (int seed = 1; seed <= 2; seed++) {
            double d = seed == 1 ? -0.005 : 0.005;
            rows.add(new DemoStudents.Row(FeatureLayersExperiment.LOGITS_ONLY, seed, new DemoStudents.Scores(logitsOnly + d, 0.9, 0.1, 10, 1, 1)));
            for (int s = 0; s < perplexity.length; s++) {
                for (int t = 0; t < perplexity[s].length; t++) {
                    rows.add(new DemoStudents.Row(FeatureLayersExperiment.arm(s, t), seed, new DemoStudents.Scores(perplexity[s][t] + d, 0.9, 0.1, 10, 1, 1)));
                }
            }
        }
        return rows;
    }
}
