package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every divergence's student trains end to end at toy size, the toy is drawn, and the three findings are decided. */
class DivergencesExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void everyDivergenceTrainsAStudentAndTheToyShowsCoveringAndSeeking() throws Exception {
        Experiment.Outcome o = DivergencesExperiment.run(tmp, DemoExperimentFixture.tiny(4), 1, new PrintStream(OutputStream.nullOutputStream()));
        List<JsonNode> lines = DemoExperimentFixture.results(o.results());
        assertEquals(List.of("fkl", "rkl", "jsd", "skl", "srkl", "tvd"), lines.stream().map(n -> n.get("arm").asText()).toList());
        assertEquals(0.5, lines.get(2).get("beta").asDouble());
        DemoExperimentFixture.checkTableAndReport(o, 6);
        assertEquals(3, o.findings().size());
        // the toy is deterministic: FKL covers both modes, RKL sits on one
        assertEquals(Experiment.Verdict.HOLDS, o.findings().getFirst().verdict(), o.findings().getFirst().measured());
        assertTrue(lines.get(0).get("toy_mass_b").asDouble() > 0.1 && lines.get(1).get("toy_mass_b").asDouble() < 0.01, lines.toString());
        String html = Files.readString(o.report());
        assertTrue(html.contains("Toy: the two-mode teacher") && html.contains("<path d='M"), "the toy's picture is drawn");
    }
}
