package dev.retort.distill.loss;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The k largest of one token's V logits, and the log-sum-exp of all the others: what the teacher cache keeps
 * of a teacher's output for each token, and what a live teacher truncated to its top-k hands the loss
 * ({@link TopKBlock#fromDense}). One selection serves both, so a cache and a live teacher with the same k give
 * bitwise the same blocks.
 *
 * <p>Order: by descending logit, ties by ascending id, so the selection is exact and the same on every run.
 * Selection is partial: a min-heap of the k best seen so far, in the output arrays themselves, is updated
 * only when a logit beats its worst member. Scanning ids in ascending order means a later logit equal to the
 * worst never displaces it (it has the higher id), so one comparison decides almost every element. The heap
 * is sorted at the end: O(V + r·log k + k·log k) for r replacements, a few hundred for V = 32000 in random
 * order, instead of a full sort's O(V·log V).
 *
 * <p>The rest's log-sum-exp is accumulated in double, shifted by the largest logit outside the top k so that
 * no term overflows and at least one is exactly 1 — it never subtracts the top k from a total, which would
 * cancel catastrophically when they hold nearly all the mass.
 */
public final class TopK {
    private TopK() {}

    /**
     * Selects the top {@code k} of {@code logits[offset, offset + vocab)} into {@code idsOut[0, k)} and
     * {@code logitsOut[0, k)}, and returns {@code log Σ_{j ∉ top-k} exp(z_j / temperature)}.
     *
     * @see #select(float[], int, int, int, float, int[], float[], int)
     */
    public static float select(float[] logits, int offset, int vocab, int k, float temperature,
                               int[] idsOut, float[] logitsOut) {
        return select(logits, offset, vocab, k, temperature, idsOut, logitsOut, 0);
    }

    /**
     * Selects the top {@code k} of the {@code vocab} logits at {@code logits[offset]} and returns the rest's
     * log-sum-exp at {@code temperature}.
     *
     * @param idsOut receives the k ids at {@code [outOffset, outOffset + k)}, by descending logit, ties by
     *     ascending id
     * @param logitsOut receives their raw logits (temperature 1) at the same positions
     * @return {@code log Σ_{j ∉ top-k} exp(z_j / temperature)}, computed in double; negative infinity when
     *     {@code k == vocab} or every other logit is negative infinity
     * @throws IllegalArgumentException for k outside [1, vocab], a temperature that is not positive and finite,
     *     ranges outside the arrays, or a logit that is NaN or positive infinity (the id is named)
     */
    public static float select(float[] logits, int offset, int vocab, int k, float temperature,
                               int[] idsOut, float[] logitsOut, int outOffset) {
        if (offset < 0 || offset > logits.length - vocab) {
            throw new IllegalArgumentException("logits [" + offset + ", " + ((long) offset + vocab)
                    + ") lie outside an array of " + logits.length);
        }
        return select(MemorySegment.ofArray(logits), offset, vocab, k, temperature, idsOut, logitsOut, outOffset);
    }

    /**
     * As {@link #select(float[], int, int, int, float, int[], float[], int)} for the F32 logits at element
     * {@code offset} of a memory segment (a chunk of dense teacher logits).
     */
    public static float select(MemorySegment logits, long offset, int vocab, int k, float temperature,
                               int[] idsOut, float[] logitsOut, int outOffset) {
        checkArguments(logits, offset, vocab, k, temperature, idsOut, logitsOut, outOffset);

        // The first k logits fill the heap; ids are the heap's tie-breaker (higher id = worse).
        for (int i = 0; i < k; i++) {
            float z = at(logits, offset + i);
            checkFinite(z, i);
            idsOut[outOffset + i] = i;
            logitsOut[outOffset + i] = z;
        }
        for (int i = k / 2 - 1; i >= 0; i--) siftDown(idsOut, logitsOut, outOffset, k, i);

        // Every later id is higher than all in the heap, so only a strictly larger logit gets in.
        float worst = logitsOut[outOffset];
        for (int j = k; j < vocab; j++) {
            float z = at(logits, offset + j);
            if (z > worst) {
                checkFinite(z, j);
                idsOut[outOffset] = j;
                logitsOut[outOffset] = z;
                siftDown(idsOut, logitsOut, outOffset, k, 0);
                worst = logitsOut[outOffset];
            }
        }
        int worstId = idsOut[outOffset];

        // The heap's root (worst, worstId) bounds the top k in the total order: j is in it exactly when
        // z_j > worst, or z_j == worst and j <= worstId. The rest is everything else.
        double restMax = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) {
            float z = at(logits, offset + j);
            if (z > worst || (z == worst && j <= worstId)) continue;
            if (!(z < Float.POSITIVE_INFINITY)) checkFinite(z, j); // NaN fails every comparison above
            if (z > restMax) restMax = z;
        }
        float restLse;
        if (restMax == Double.NEGATIVE_INFINITY) {
            restLse = Float.NEGATIVE_INFINITY; // nothing left, or only -inf logits: log 0
        } else {
            double invT = 1.0 / temperature;
            double sum = 0;
            for (int j = 0; j < vocab; j++) {
                float z = at(logits, offset + j);
                if (z > worst || (z == worst && j <= worstId)) continue;
                sum += Math.exp((z - restMax) * invT); // <= 1, and exactly 1 at the maximum
            }
            restLse = (float) (restMax * invT + Math.log(sum));
        }

        sortHeap(idsOut, logitsOut, outOffset, k);
        return restLse;
    }

    /** Whether entry a ranks below entry b: smaller logit, or the same logit and a higher id. */
    private static boolean worse(int[] ids, float[] values, int a, int b) {
        float va = values[a];
        float vb = values[b];
        return va < vb || (va == vb && ids[a] > ids[b]);
    }

    /** Restores the min-heap (worst at the root) below node i of the heap at base with n entries. */
    private static void siftDown(int[] ids, float[] values, int base, int n, int i) {
        while (true) {
            int left = 2 * i + 1;
            if (left >= n) return;
            int child = left;
            int right = left + 1;
            if (right < n && worse(ids, values, base + right, base + left)) child = right;
            if (!worse(ids, values, base + child, base + i)) return;
            swap(ids, values, base + i, base + child);
            i = child;
        }
    }

    /** Heap sort: moving the worst to the end each time leaves the best first. */
    private static void sortHeap(int[] ids, float[] values, int base, int n) {
        for (int end = n - 1; end > 0; end--) {
            swap(ids, values, base, base + end);
            siftDown(ids, values, base, end, 0);
        }
    }

    private static void swap(int[] ids, float[] values, int a, int b) {
        int id = ids[a];
        ids[a] = ids[b];
        ids[b] = id;
        float v = values[a];
        values[a] = values[b];
        values[b] = v;
    }

    private static void checkFinite(float z, int id) {
        if (Float.isNaN(z) || z == Float.POSITIVE_INFINITY) {
            throw new IllegalArgumentException("teacher logit of token id " + id + " is " + z
                    + "; expected a finite number or -Infinity");
        }
    }

    private static float at(MemorySegment logits, long i) {
        return logits.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
    }

    private static void checkArguments(MemorySegment logits, long offset, int vocab, int k, float temperature,
                                       int[] idsOut, float[] logitsOut, int outOffset) {
        if (vocab < 1) throw new IllegalArgumentException("vocab must be >= 1, got " + vocab);
        if (k < 1 || k > vocab) {
            throw new IllegalArgumentException("k must be in [1, vocab = " + vocab + "], got " + k);
        }
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be positive and finite, got " + temperature);
        }
        if (offset < 0 || offset > logits.byteSize() / 4 - vocab) {
            throw new IllegalArgumentException("logits [" + offset + ", " + (offset + vocab)
                    + ") lie outside a buffer of " + logits.byteSize() / 4);
        }
        if (outOffset < 0 || outOffset > idsOut.length - k || outOffset > logitsOut.length - k) {
            throw new IllegalArgumentException("outputs [" + outOffset + ", " + ((long) outOffset + k)
                    + ") lie outside arrays of " + idsOut.length + " ids and " + logitsOut.length + " logits");
        }
    }
}
