package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Full fine-tuning and a small rank × learning-rate grid end to end at toy size, and the verdict rules on made-up scores. */
class LoraVsFullExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void fullAndEveryGridCellTrainAStudentWithItsCosts() throws Exception {
        var grid = new LoraVsFullExperiment.Grid(List.of(4, 16), List.of(3e-3));   // three students, each in a JVM of its own
        Experiment.Outcome o = LoraVsFullExperiment.run(tmp, DemoExperimentFixture.tiny(3), grid, 1, new PrintStream(OutputStream.nullOutputStream()));
        List<JsonNode> lines = DemoExperimentFixture.results(o.results());
        assertEquals(List.of("full", "lora r=4 lr=3e-03", "lora r=16 lr=3e-03"), lines.stream().map(n -> n.get("arm").asText()).toList());
        assertEquals(16, lines.get(2).get("rank").asInt());
        // the trainable state grows with the rank, and the whole student's is larger than rank 4's
        long full = lines.get(0).get("trainable_state_bytes").asLong(), r4 = lines.get(1).get("trainable_state_bytes").asLong();
        long r16 = lines.get(2).get("trainable_state_bytes").asLong();
        assertTrue(r4 < r16 && r4 < full, lines.toString());
        DemoExperimentFixture.checkTableAndReport(o, 3);
        assertEquals(4, o.findings().size());
    }

    @Test
    void aStudentTrainedAsRetortDistillInItsOwnJvmScoresExactlyAsInThisOne() throws Exception {
        DemoStudents.Size size = DemoExperimentFixture.tiny(3);
        var log = new PrintStream(OutputStream.nullOutputStream());
        var task = dev.retort.distill.demo.DemoTask.prepare(tmp.resolve("task"), size.task(), log);
        var arm = new DemoStudents.Arm("lora r=4", "neo", LoraVsFullExperiment.KD,
                dev.retort.distill.options.LoraOptions.DEFAULTS.withRank(4, 8), dev.retort.distill.options.FeatureOptions.DEFAULTS, 3e-3);
        DemoStudents.Scores here = DemoStudents.train(task, size, arm, 2, tmp.resolve("here"), log);
        DemoStudents.Scores child = DemoStudents.trainInOwnJvm(task, size, arm, 2, tmp.resolve("child"), log);
        // the flags say everything the options do: the same student, to the last bit of its scores
        assertEquals(here.perplexity(), child.perplexity());
        assertEquals(here.agreement(), child.agreement());
        assertEquals(here.kl(), child.kl());
        assertEquals(here.trainableStateBytes(), child.trainableStateBytes());
        assertTrue(child.peakRssBytes() > 50_000_000 && child.peakRssBytes() < 4_000_000_000L, "the child's own peak: " + child.peakRssBytes());
    }

    @Test
    void theLearningRateGuidelineComparesLowerRatesAtTheHighRankWithTheLowRanksBest() {
        var grid = new LoraVsFullExperiment.Grid(List.of(4, 64), List.of(1e-3, 3e-3, 1e-2));
        // r = 4 is best at 3e-3; r = 64 at 1e-3, clearly
        List<DemoStudents.Row> rows = rows(new double[][] {{1.9, 1.8, 1.85}, {1.7, 1.8, 2.0}}, 1.75);
        List<Experiment.Finding> f = LoraVsFullExperiment.findings(rows, DemoExperimentFixture.tiny(3), grid);
        assertEquals(Experiment.Verdict.HOLDS, f.get(3).verdict(), f.get(3).measured());
        assertEquals(Experiment.Verdict.HOLDS, f.get(2).verdict(), "r = 64 at 1.7 beats r = 4 at 1.8");
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, f.get(1).verdict(), "full at 1.75 loses to r = 64 at 1.7");
        // r = 64 is also best at 3e-3, and the lower rate is clearly worse there
        rows = rows(new double[][] {{1.9, 1.8, 1.85}, {1.9, 1.7, 2.0}}, 1.6);
        f = LoraVsFullExperiment.findings(rows, DemoExperimentFixture.tiny(3), grid);
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, f.get(3).verdict(), f.get(3).measured());
        assertEquals(Experiment.Verdict.HOLDS, f.get(1).verdict(), "full at 1.6 beats every LoRA arm");
        // r = 4 is best at the lowest rate: nothing lower was tried
        rows = rows(new double[][] {{1.7, 1.8, 1.85}, {1.9, 1.7, 2.0}}, 1.6);
        f = LoraVsFullExperiment.findings(rows, DemoExperimentFixture.tiny(3), grid);
        assertEquals(Experiment.Verdict.INCONCLUSIVE, f.get(3).verdict(), f.get(3).measured());
    }

    /** Two seeds (± 0.005) per cell of ranks {4, 64} × rates {1e-3, 3e-3, 1e-2}, and full fine-tuning. */
    private static List<DemoStudents.Row> rows(double[][] perplexity, double full) {
        List<DemoStudents.Row> rows = new ArrayList<>();
        int[] ranks = {4, 64};
        double[] lrs = {1e-3, 3e-3, 1e-2};
        for (int seed = 1; seed <= 2; seed++) {
            double d = seed == 1 ? -0.005 : 0.005;
            rows.add(new DemoStudents.Row("full", seed, new DemoStudents.Scores(full + d, 0.9, 0.1, 20, 8_000_000, 500_000_000)));
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < 3; j++) {
                    rows.add(new DemoStudents.Row(LoraVsFullExperiment.arm(ranks[i], lrs[j]), seed,
                            new DemoStudents.Scores(perplexity[i][j] + d, 0.9, 0.1, 15, 1_000_000, 400_000_000)));
                }
            }
        }
        return rows;
    }
}
