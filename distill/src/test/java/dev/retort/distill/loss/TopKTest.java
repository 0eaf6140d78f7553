package dev.retort.distill.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

public class TopKTest {

    /** The reference order: every id sorted by descending logit, ties by ascending id — a full sort. */
    public static int[] fullSortOrder(float[] logits, int offset, int vocab) {
        return IntStream.range(0, vocab).boxed()
                .sorted(Comparator.<Integer>comparingDouble(j -> -logits[offset + j]).thenComparingInt(j -> j))
                .mapToInt(Integer::intValue).toArray();
    }

    /** log Σ_{j ∉ top-k} exp(z_j / T) in double, shifted by the rest's maximum; -inf for an empty rest. */
    public static double restLse(float[] logits, int offset, int vocab, int k, double temperature) {
        int[] order = fullSortOrder(logits, offset, vocab);
        double max = Double.NEGATIVE_INFINITY;
        for (int r = k; r < vocab; r++) max = Math.max(max, logits[offset + order[r]] / temperature);
        if (max == Double.NEGATIVE_INFINITY) return max;
        double sum = 0;
        for (int r = k; r < vocab; r++) sum += Math.exp(logits[offset + order[r]] / temperature - max);
        return max + Math.log(sum);
    }

    @Test
    void selectsTheSameIdsAndLogitsAsAFullSort() {
        Random random = new Random(11);
        for (int vocab : new int[] {1, 2, 37, 1009}) {
            for (int k : new int[] {1, 2, 5, vocab / 2, vocab - 1, vocab}) {
                if (k < 1 || k > vocab) continue;
                float[] logits = new float[vocab];
                // Few distinct values so ties are common, plus a wide random spread.
                for (int j = 0; j < vocab; j++) {
                    logits[j] = random.nextBoolean() ? random.nextInt(4) : (float) (random.nextGaussian() * 3);
                }
                int[] ids = new int[k];
                float[] top = new float[k];
                TopK.select(logits, 0, vocab, k, 1f, ids, top);
                int[] expected = Arrays.copyOf(fullSortOrder(logits, 0, vocab), k);
                assertArrayEquals(expected, ids, "ids for V = " + vocab + ", k = " + k);
                for (int i = 0; i < k; i++) {
                    assertEquals(logits[expected[i]], top[i], "logit " + i + " for V = " + vocab + ", k = " + k);
                }
            }
        }
    }

    @Test
    void restLogSumExpMatchesADirectDoubleComputation() {
        Random random = new Random(12);
        int vocab = 1013;
        float[] logits = new float[vocab];
        for (int j = 0; j < vocab; j++) logits[j] = (float) (random.nextGaussian() * 4);
        for (float temperature : new float[] {0.25f, 1f, 2.5f}) {
            for (int k : new int[] {1, 8, 100, 1012}) {
                float rest = TopK.select(logits, 0, vocab, k, temperature, new int[k], new float[k]);
                // Unshifted, as the definition reads: the values are small enough not to overflow.
                int[] order = fullSortOrder(logits, 0, vocab);
                double sum = 0;
                for (int r = k; r < vocab; r++) sum += Math.exp((double) logits[order[r]] / temperature);
                double expected = Math.log(sum);
                assertEquals(expected, rest, 2e-6 * Math.max(1, Math.abs(expected)),
                        "rest LSE for k = " + k + ", T = " + temperature);
            }
        }
    }

    @Test
    void tiesAreBrokenByTheLowerIdOnBothSidesOfTheCut() {
        float[] logits = {1, 3, 3, 2, 3, 1, 3};
        int[] ids = new int[2];
        float[] top = new float[2];
        float rest = TopK.select(logits, 0, logits.length, 2, 1f, ids, top);
        assertArrayEquals(new int[] {1, 2}, ids);
        assertArrayEquals(new float[] {3, 3}, top);
        // The 3s at ids 4 and 6 lost the tie and belong to the rest.
        double expected = Math.log(2 * Math.exp(1) + Math.exp(2) + 2 * Math.exp(3));
        assertEquals(expected, rest, 1e-6, "rest LSE with tied logits left out");

        int[] allTied = new int[3];
        float restOfZeros = TopK.select(new float[10], 0, 10, 3, 1f, allTied, new float[3]);
        assertArrayEquals(new int[] {0, 1, 2}, allTied);
        assertEquals(Math.log(7), restOfZeros, 1e-6);
    }

    @Test
    void restIsNegativeInfinityWhenNothingOrOnlyMinusInfinityIsLeft() {
        float[] logits = {0.5f, -2f, 4f};
        int[] ids = new int[3];
        assertEquals(Float.NEGATIVE_INFINITY, TopK.select(logits, 0, 3, 3, 1f, ids, new float[3]));
        assertArrayEquals(new int[] {2, 0, 1}, ids);

        float minf = Float.NEGATIVE_INFINITY;
        float[] masked = {minf, 1f, minf, 2f, minf};
        int[] two = new int[2];
        assertEquals(Float.NEGATIVE_INFINITY, TopK.select(masked, 0, 5, 2, 1f, two, new float[2]));
        assertArrayEquals(new int[] {3, 1}, two);
        // -inf logits can be selected when k reaches them, in id order.
        int[] four = new int[4];
        float[] fourLogits = new float[4];
        TopK.select(masked, 0, 5, 4, 1f, four, fourLogits);
        assertArrayEquals(new int[] {3, 1, 0, 2}, four);
        assertArrayEquals(new float[] {2, 1, minf, minf}, fourLogits);
    }

    @Test
    void aRestFarBelowTheTopKeepsItsValue() {
        // The top logits carry all but e^-20000 of the mass: subtracting them from a total would leave 0 (-inf).
        int vocab = 50;
        float[] logits = new float[vocab];
        for (int j = 0; j < vocab; j++) logits[j] = j < 3 ? 10_000f + j : -10_000f - j;
        float rest = TopK.select(logits, 0, vocab, 3, 1f, new int[3], new float[3]);
        assertEquals(restLse(logits, 0, vocab, 3, 1), rest, 1e-2, "rest LSE far below the top");
        assertTrue(rest < -9_999, "rest LSE " + rest + " should be near -10000");

        // Huge logits at a small temperature would overflow exp without the shift.
        for (int j = 0; j < vocab; j++) logits[j] = 3e4f + j;
        float hot = TopK.select(logits, 0, vocab, 1, 0.01f, new int[1], new float[1]);
        double expectedHot = restLse(logits, 0, vocab, 1, 0.01f);
        assertEquals(expectedHot, hot, 2 * Math.ulp((float) expectedHot), "rest LSE of huge logits at T = 0.01");
    }

    @Test
    void offsetsSelectOneRowOfManyAndPlaceTheOutput() {
        Random random = new Random(13);
        int vocab = 29;
        int k = 4;
        int rows = 3;
        float[] logits = new float[rows * vocab];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) random.nextGaussian();
        int[] ids = new int[rows * k];
        float[] top = new float[rows * k];
        for (int row = 0; row < rows; row++) {
            float rest = TopK.select(logits, row * vocab, vocab, k, 1.5f, ids, top, row * k);
            assertEquals(restLse(logits, row * vocab, vocab, k, 1.5f), rest, 1e-6, "rest LSE of row " + row);
        }
        for (int row = 0; row < rows; row++) {
            int[] expected = Arrays.copyOf(fullSortOrder(logits, row * vocab, vocab), k);
            assertArrayEquals(expected, Arrays.copyOfRange(ids, row * k, row * k + k), "ids of row " + row);
        }
    }

    @Test
    void nanAndPositiveInfinityAreRefusedNamingTheId() {
        float[] logits = {1, 2, Float.NaN, 0};
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                () -> TopK.select(logits, 0, 4, 1, 1f, new int[1], new float[1]));
        assertEquals("teacher logit of token id 2 is NaN; expected a finite number or -Infinity", nan.getMessage());
        float[] inTopK = {Float.NaN, 2, 0, 1};
        assertThrows(IllegalArgumentException.class, () -> TopK.select(inTopK, 0, 4, 2, 1f, new int[2], new float[2]));
        float[] inf = {1, 2, 0, Float.POSITIVE_INFINITY};
        IllegalArgumentException infinity = assertThrows(IllegalArgumentException.class,
                () -> TopK.select(inf, 0, 4, 2, 1f, new int[2], new float[2]));
        assertTrue(infinity.getMessage().contains("token id 3 is Infinity"), infinity.getMessage());
    }

    @Test
    void badArgumentsAreRefused() {
        float[] logits = new float[10];
        assertThrows(IllegalArgumentException.class, () -> TopK.select(logits, 0, 10, 0, 1f, new int[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> TopK.select(logits, 0, 10, 11, 1f, new int[11], new float[11]));
        assertThrows(IllegalArgumentException.class, () -> TopK.select(logits, 0, 10, 1, 0f, new int[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> TopK.select(logits, 0, 10, 1, Float.NaN, new int[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> TopK.select(logits, 1, 10, 1, 1f, new int[1], new float[1]));
        assertThrows(IllegalArgumentException.class, () -> TopK.select(logits, 0, 10, 2, 1f, new int[1], new float[2]));
        assertThrows(IllegalArgumentException.class,
                () -> TopK.select(logits, 0, 10, 2, 1f, new int[4], new float[4], 3));
    }
}
