package dev.retort.distill.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The experiment up to its synthesis at a toy size: the world, the teacher and the index are made, and a teacher
 * too small to write a usable triplet stops the run with one line saying so. (A teacher that writes good triplets
 * takes minutes to train; the arms after synthesis are run by the recorded measurement, and their parts —
 * synthesis, seqkd, SGP, evaluation — each have their own tests.)
 */
class AceAttorneyExperimentTest {
    @TempDir
    Path tmp;

    @Test
    void aTeacherThatWritesNothingUsableStopsTheRunInOneLine() throws Exception {
        var size = new AceAttorneyExperiment.Size(30, 10, 200, 300, 32, 2, 2, 1, 64, 96, 4, 10, "0", 4, 1, 0.5);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> AceAttorneyExperiment.run(tmp, size, 1, new PrintStream(OutputStream.nullOutputStream())));
        assertTrue(e.getMessage().matches("the teacher wrote no triplet that passed the filters \\(\\{truncated=\\d+, malformed=\\d+, "
                + "empty_answer=\\d+, unsupported=\\d+, duplicate_question=\\d+\\}\\): it needs more than 10 training steps for this world"), e.getMessage());
        assertEquals(30, Files.readAllLines(tmp.resolve("docs.jsonl")).size());
        assertEquals(10, Files.readAllLines(tmp.resolve("gold.jsonl")).size());
        assertTrue(Files.exists(tmp.resolve("teacher/model.safetensors")));
        assertTrue(Files.exists(tmp.resolve("index/retort-index.json")));
    }

    @Test
    void tableShowsMeanAndSampleStandardDeviation() {
        assertEquals("0.500 ± 0.707", Stats.meanSd(new double[] {0, 1}));
        assertEquals("0.250", Stats.meanSd(new double[] {0.25}));
    }

    @Test
    void theSgpClaimHoldsOnlyWhenItsRetrievalBeatsBm25ByMoreThanTheSpread() {
        java.util.function.Function<double[], java.util.List<AceAttorneyExperiment.Row>> rows = r -> java.util.List.of(
                row(1, "bm25+student", r[0]), row(2, "bm25+student", r[1]), row(1, "sgp+student w=0.5", r[2]), row(2, "sgp+student w=0.5", r[3]));
        assertEquals(Experiment.Verdict.HOLDS, AceAttorneyExperiment.findings(rows.apply(new double[] {0.4, 0.5, 0.8, 0.9})).getFirst().verdict());
        assertEquals(Experiment.Verdict.DOES_NOT_HOLD, AceAttorneyExperiment.findings(rows.apply(new double[] {0.8, 0.9, 0.4, 0.5})).getFirst().verdict());
        assertEquals(Experiment.Verdict.INCONCLUSIVE, AceAttorneyExperiment.findings(rows.apply(new double[] {0.4, 0.9, 0.5, 0.8})).getFirst().verdict());
        assertEquals(Experiment.Verdict.INCONCLUSIVE, AceAttorneyExperiment.findings(rows.apply(new double[] {0.4, 0.5, 0.8, 0.9}).subList(0, 3))
                .getFirst().verdict(), "one seed of SGP has no spread to judge a gap by");
        assertTrue(AceAttorneyExperiment.findings(rows.apply(new double[] {0.4, 0.5, 0.8, 0.9})).getFirst().measured()
                .startsWith("retrieval accuracy 0.850 ± 0.071 with SGP (w = 0.5) against 0.450 ± 0.071"));
    }

    private static AceAttorneyExperiment.Row row(long seed, String pipeline, double retrieval) {
        return new AceAttorneyExperiment.Row(seed, pipeline, new dev.retort.distill.qa.QaEvaluation.Scores(pipeline, 10, 0, 0, retrieval, 0));
    }
}
