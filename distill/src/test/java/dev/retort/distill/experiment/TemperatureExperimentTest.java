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

/** The sweep end to end at toy size, and its verdict rules on made-up perplexities. */
class TemperatureExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void everyTemperatureTrainsAStudentAndTheChartHasTOnItsXAxis() throws Exception {
        Experiment.Outcome o = TemperatureExperiment.run(tmp, DemoExperimentFixture.tiny(3), 1, new PrintStream(OutputStream.nullOutputStream()));
        List<JsonNode> lines = DemoExperimentFixture.results(o.results());
        assertEquals(List.of(1, 2, 3, 4, 5, 6, 7, 8), lines.stream().map(n -> n.get("temperature").asInt()).toList());
        DemoExperimentFixture.checkTableAndReport(o, 8);
        assertEquals("T=1", o.table().getFirst().getFirst());
        assertEquals(2, o.findings().size());
        String html = Files.readString(o.report());
        assertTrue(html.contains("Held-out perplexity against the temperature") && html.contains(">T</text>"), "the chart's x axis is T");
    }

    @Test
    void aWarmTemperatureHoldsWhenItBeatsTOneAndTheHottestBeyondTheSpread() {
        // perplexity falls to T = 3 and rises again, with a spread of 0.01 over two seeds
        List<DemoStudents.Row> rows = rows(new double[] {2.0, 1.9, 1.8, 1.85, 1.9, 1.95, 2.0, 2.1});
        List<Experiment.Finding> f = TemperatureExperiment.findings(rows);
        assertEquals(Experiment.Verdict.HOLDS, f.get(0).verdict(), f.get(0).measured());
        assertTrue(f.get(0).measured().contains("(T = 3)"), f.get(0).measured());
        assertEquals(Experiment.Verdict.HOLDS, f.get(1).verdict());
        // monotone: T = 1 best, T = 8 worst
        f = TemperatureExperiment.findings(rows(new double[] {1.7, 1.8, 1.9, 2.0, 2.1, 2.2, 2.3, 2.4}));
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, f.get(0).verdict());
        // the hottest is the best: the second claim does not hold
        f = TemperatureExperiment.findings(rows(new double[] {2.4, 2.3, 2.2, 2.1, 2.0, 1.9, 1.8, 1.7}));
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, f.get(1).verdict());
        // all within the spread: inconclusive
        f = TemperatureExperiment.findings(rows(new double[] {1.8, 1.801, 1.8, 1.8, 1.8, 1.8, 1.8, 1.802}));
        assertEquals(Experiment.Verdict.INCONCLUSIVE, f.get(0).verdict());
        assertEquals(Experiment.Verdict.INCONCLUSIVE, f.get(1).verdict());
    }

    /** Two seeds per T, at the given mean perplexity ± 0.005. */
    private static List<DemoStudents.Row> rows(double[] perplexity) {
        List<DemoStudents.Row> rows = new ArrayList<>();
        for (int i = 0; i < perplexity.length; i++) {
            for (int seed = 1; seed <= 2; seed++) {
                double p = perplexity[i] + (seed == 1 ? -0.005 : 0.005);
                rows.add(new DemoStudents.Row("T=" + (i + 1), seed, new DemoStudents.Scores(p, 0.9, 0.1, 10, 1, 1)));
            }
        }
        return rows;
    }
}
