package dev.retort.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.experiment.Experiments;
import dev.retort.distill.experiment.TemperatureExperiment;
import java.nio.file.Files;
import java.util.List;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code retort experiment}: usage errors, and one experiment exactly as a user runs it at {@code --quick} size (the
 * size the four demo-task experiments share); every experiment's own code is tested end to end at a toy size beside
 * it in distill/experiment.
 */
class ExperimentCliTest {
    @TempDir
    Path tmp;

    @Test
    void anUnknownExperimentIsAUsageErrorListingTheKnownOnes() {
        CliTest.Run r = CliTest.run("experiment", "no-such", "--out", tmp.toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("experiment: unknown experiment 'no-such'; expected one of " + Experiments.names()), r.err());
        assertTrue(Experiments.names().contains("ace-attorney"), Experiments.names());
    }

    @Test
    void seedsMustBePositive() {
        CliTest.Run r = CliTest.run("experiment", "ace-attorney", "--seeds", "0", "--out", tmp.toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("--seeds must be at least 1, got 0"), r.err());
    }

    @Test
    void everyExperimentHasAUniqueNameAndADescription() {
        assertEquals(Experiments.ALL.size(), Experiments.ALL.stream().map(e -> e.name()).distinct().count());
        Experiments.ALL.forEach(e -> assertTrue(!e.description().isBlank(), e.name()));
    }

    @Test
    void temperatureRunsAtQuickSizeAndPrintsItsTableClaimsAndLastLine() throws Exception {
        Path out = tmp.resolve("temperature");
        CliTest.Run r = CliTest.run("experiment", "temperature", "--quick", "--seeds", "2", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        List<String> lines = r.out().strip().lines().toList();
        assertTrue(lines.getFirst().startsWith("arm  ") && lines.getFirst().contains("held-out perplexity"), lines.getFirst());
        List<String> claims = lines.stream().filter(l -> l.startsWith("claim: ")).toList();
        assertTrue(!claims.isEmpty() && claims.stream().allMatch(l -> l.matches("claim: .+ \\| measured: .+ \\| verdict: (holds|does not hold|inconclusive)")),
                claims.toString());
        assertEquals("experiment temperature: results in " + out.resolve("results.jsonl") + ", report " + out.resolve("report.html"), r.lastLine());
        assertEquals(2 * TemperatureExperiment.TEMPERATURES.size(), Files.readAllLines(out.resolve("results.jsonl")).size());
    }
}
