package dev.retort.distill.progressive;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.ops.CrossEntropy;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The adaptive-prompting bandit: its rewards, its weights, its draws as a function of (seed, step, state). */
class PromptTemplatesTest {
    private static final List<String> POOL = List.of("{input}", "Story: {input}", "Q: {input}\nA:");

    @Test
    void aRowsRewardIsTheMeanOfTeacherConfidenceTimesStudentKlOverItsCountedPositions() {
        try (Arena arena = Arena.ofConfined()) {
            PromptTemplates t = new PromptTemplates(POOL, 3, 0.1, 5, arena);
            int ignore = CrossEntropy.IGNORE_INDEX;
            // two rows of three positions; row 0 used template 2, row 1 template 0; one position of row 1 does not count
            double[] kl = {0.5, 1.0, 0.25, 2.0, 9.0, 4.0};
            double[] entropy = {0.0, Math.log(2), 1.0, 0.5, 9.0, 0.0};
            int[] counted = {0, 0, 0, 0, ignore, 0};
            t.reward(new int[] {2, 0}, 3, kl, entropy, counted);
            float[] state = t.state().value().toFloatArray();   // scores s_0..s_2, then counts n_0..n_2
            double row0 = (0.5 * 1 + 1.0 * 0.5 + 0.25 * Math.exp(-1)) / 3, row1 = (2.0 * Math.exp(-0.5) + 4.0) / 2;
            assertArrayEquals(new float[] {(float) row1, 0, (float) row0, 1, 0, 1}, state);
        }
    }

    @Test
    void weightsAreExp3OverScoresWithOptimismForUntriedTemplates() {
        try (Arena arena = Arena.ofConfined()) {
            PromptTemplates t = new PromptTemplates(POOL, 3, 0.1, 5, arena);
            assertArrayEquals(new double[] {1 / 3.0, 1 / 3.0, 1 / 3.0}, t.weights(), 1e-12, "nothing tried: uniform");
            t.reward(new int[] {0, 1}, 1, new double[] {1.0, 0.5}, new double[] {0, 0}, new int[] {0, 0});
            // s = (1, 0.5, untried → 1): softmax(3·s / 1) mixed with 0.1 uniform
            double a = Math.exp(3), b = Math.exp(1.5), sum = 2 * a + b;
            double[] expected = {0.9 * a / sum + 0.1 / 3, 0.9 * b / sum + 0.1 / 3, 0.9 * a / sum + 0.1 / 3};
            assertArrayEquals(expected, t.weights(), 1e-6);
            // the running mean of the first rewards: (1 + 3) / 2
            t.reward(new int[] {0}, 1, new double[] {3.0}, new double[] {0}, new int[] {0});
            assertEquals(2.0f, t.state().value().getFlat(0));
        }
    }

    @Test
    void drawsAreAFunctionOfSeedStepAndStateAndFollowTheWeights() {
        try (Arena arena = Arena.ofConfined()) {
            PromptTemplates a = new PromptTemplates(POOL, 3, 0.1, 5, arena), b = new PromptTemplates(POOL, 3, 0.1, 5, arena);
            for (PromptTemplates t : List.of(a, b)) t.reward(new int[] {1, 0, 2}, 1, new double[] {2.0, 0.2, 0.1}, new double[3], new int[3]);
            int[] counts = new int[3];
            for (long index = 0; index < 500; index++) {
                for (int row = 0; row < 4; row++) {
                    int k = a.choose(index, row, 4);
                    assertEquals(k, b.choose(index, row, 4), "the same seed, step and state choose the same");
                    counts[k]++;
                }
            }
            double[] w = a.weights();
            for (int k = 0; k < 3; k++) assertEquals(w[k], counts[k] / 2000.0, 0.04, "template " + k + " drawn as often as its weight");
            assertTrue(counts[1] > counts[0] + counts[2], "the template with most left to learn is drawn most");
        }
    }

    @Test
    void templateFilesNeedOneSlotPerLine(@TempDir Path dir) throws Exception {
        Path good = dir.resolve("good.txt");
        Files.writeString(good, "{input}\n\nQuestion: {input}\\nAnswer:\n");
        assertEquals(List.of("{input}", "Question: {input}\nAnswer:"), PromptTemplates.read(good));
        Path bad = dir.resolve("bad.txt");
        Files.writeString(bad, "{input}\nno slot here\n");
        var e = assertThrows(IllegalArgumentException.class, () -> PromptTemplates.read(bad));
        assertTrue(e.getMessage().contains("bad.txt:2") && e.getMessage().contains("{input}"), e.getMessage());
    }
}
