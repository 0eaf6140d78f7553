package dev.retort.distill.loss;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The teacher's view of {@code rows} consecutive tokens truncated to its k most likely next tokens: what a
 * teacher cache stores instead of the full [rows × V] logits.
 *
 * <p>Row r holds k token ids ({@code ids[r·k + i]}), their raw teacher logits at temperature 1
 * ({@code logits[r·k + i]}), and {@code restLogSumExp[r]} = log Σ_{j ∉ top-k} exp(z_j / T) for the KD
 * temperature T the block was made for (−∞ when the top-k is the whole vocabulary). Together they give the
 * teacher's exact probabilities of the k buckets and of the one "rest" bucket at that temperature. The ids of
 * a row are distinct; their order does not matter ({@link #fromDense} sorts by decreasing logit). The arrays
 * are used as given, not copied.
 */
public record TopKBlock(int rows, int k, double temperature, int[] ids, float[] logits, float[] restLogSumExp) {

    public TopKBlock {
        if (rows < 0 || k < 1) throw new IllegalArgumentException("top-k block: rows " + rows + " and k " + k + " must be >= 0 and >= 1");
        if (!(temperature > 0)) throw new IllegalArgumentException("top-k block: temperature " + temperature + " must be > 0");
        long cells = (long) rows * k;
        if (ids.length != cells || logits.length != cells || restLogSumExp.length != rows) {
            throw new IllegalArgumentException("top-k block of " + rows + " rows × k " + k + ": expected " + cells
                    + " ids and logits and " + rows + " rest log-sum-exps, got " + ids.length + ", " + logits.length
                    + " and " + restLogSumExp.length);
        }
    }

    public int id(int row, int i) { return ids[row * k + i]; }

    public float logit(int row, int i) { return logits[row * k + i]; }

    public float restLogSumExp(int row) { return restLogSumExp[row]; }

    /**
     * Checks that every id lies in [0, vocab) and that no row repeats an id; the error names the block row
     * (offset by {@code firstRow}, the row of the whole batch it starts at).
     */
    public void validate(int vocab, int firstRow) {
        if (k > vocab) throw new IllegalArgumentException("top-k block: k " + k + " exceeds the vocabulary size " + vocab);
        int[] sorted = new int[k];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(ids, r * k, sorted, 0, k);
            Arrays.sort(sorted);
            for (int i = 0; i < k; i++) {
                if (sorted[i] < 0 || sorted[i] >= vocab) {
                    throw new IllegalArgumentException("top-k block: token id " + sorted[i] + " at row " + (firstRow + r)
                            + " is outside the vocabulary [0, " + vocab + ")");
                }
                if (i > 0 && sorted[i] == sorted[i - 1]) {
                    throw new IllegalArgumentException("top-k block: token id " + sorted[i] + " appears twice at row " + (firstRow + r));
                }
            }
        }
    }

    /**
     * Truncates dense raw logits [n × V] (F32, contiguous) to their top-k per row at temperature T: ids by
     * decreasing logit (ties: lower id first), and the rest's log-sum-exp at T computed directly over the
     * tokens left out (in double), never as a difference from the total.
     */
    public static TopKBlock fromDense(Tensor logits, int k, double temperature) {
        if (logits.rank() != 2 || logits.dtype() != DType.F32 || !logits.isContiguous()) {
            throw new IllegalArgumentException("top-k truncation: logits must be a contiguous F32 [n × V] tensor, got " + logits);
        }
        int n = logits.dim(0), vocab = logits.dim(1);
        if (k < 1 || k > vocab) throw new IllegalArgumentException("top-k truncation: k " + k + " must be in [1, " + vocab + "]");
        int[] ids = new int[n * k];
        float[] values = new float[n * k];
        float[] rest = new float[n];
        MemorySegment seg = logits.segment();
        int[] heap = new int[k];
        int[] sortedIds = new int[k];
        for (int r = 0; r < n; r++) {
            long row = logits.offset() + (long) r * vocab;
            selectTopK(seg, row, vocab, k, heap);
            // heap holds the k best ids in heap order; sort them by decreasing logit, then id
            Integer[] order = new Integer[k];
            for (int i = 0; i < k; i++) order[i] = heap[i];
            Arrays.sort(order, (a, b) -> better(seg, row, a, b) ? -1 : better(seg, row, b, a) ? 1 : 0);
            for (int i = 0; i < k; i++) {
                ids[r * k + i] = order[i];
                values[r * k + i] = at(seg, row, order[i]);
                sortedIds[i] = order[i];
            }
            Arrays.sort(sortedIds);
            rest[r] = (float) restLogSumExp(seg, row, vocab, sortedIds, temperature);
        }
        return new TopKBlock(n, k, temperature, ids, values, rest);
    }

    /** log Σ_{j ∉ excluded} exp(z_j / T) over a row; {@code excluded} is sorted ascending. −∞ if nothing is left. */
    private static double restLogSumExp(MemorySegment seg, long row, int vocab, int[] excluded, double temperature) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0, e = 0; j < vocab; j++) {
            if (e < excluded.length && excluded[e] == j) { e++; continue; }
            max = Math.max(max, at(seg, row, j));
        }
        if (max == Double.NEGATIVE_INFINITY) return max;
        double sum = 0;
        for (int j = 0, e = 0; j < vocab; j++) {
            if (e < excluded.length && excluded[e] == j) { e++; continue; }
            sum += Math.exp((at(seg, row, j) - max) / temperature);
        }
        return max / temperature + Math.log(sum);
    }

    /**
     * Leaves the ids of the k largest logits of a row in {@code heap} (a min-heap by "worse first": the root is
     * the weakest of the k kept so far, replaced whenever a better token comes along). O(V log k).
     */
    private static void selectTopK(MemorySegment seg, long row, int vocab, int k, int[] heap) {
        for (int j = 0; j < k; j++) {
            heap[j] = j;
            siftUp(seg, row, heap, j);
        }
        for (int j = k; j < vocab; j++) {
            if (better(seg, row, j, heap[0])) {
                heap[0] = j;
                siftDown(seg, row, heap, k);
            }
        }
    }

    private static void siftUp(MemorySegment seg, long row, int[] heap, int i) {
        while (i > 0) {
            int parent = (i - 1) / 2;
            if (!better(seg, row, heap[parent], heap[i])) break;
            swap(heap, i, parent);
            i = parent;
        }
    }

    private static void siftDown(MemorySegment seg, long row, int[] heap, int size) {
        int i = 0;
        while (true) {
            int left = 2 * i + 1, right = left + 1, worst = i;
            if (left < size && better(seg, row, heap[worst], heap[left])) worst = left;
            if (right < size && better(seg, row, heap[worst], heap[right])) worst = right;
            if (worst == i) return;
            swap(heap, i, worst);
            i = worst;
        }
    }

    /** Whether token a ranks above token b: a larger logit, or an equal logit and a lower id. */
    private static boolean better(MemorySegment seg, long row, int a, int b) {
        float za = at(seg, row, a), zb = at(seg, row, b);
        return za > zb || (za == zb && a < b);
    }

    private static void swap(int[] heap, int i, int j) {
        int t = heap[i];
        heap[i] = heap[j];
        heap[j] = t;
    }

    private static float at(MemorySegment seg, long row, int j) {
        return seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + j);
    }
}
