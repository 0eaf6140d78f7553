package dev.retort.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.experiment.Experiments;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code retort experiment}'s usage errors; each experiment's quick run is tested beside it in distill/experiment. */
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
}
