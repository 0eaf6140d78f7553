package dev.retort.distill.loss;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
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
     * Truncates dense raw logits [n × V] (F32, contiguous) to their top-k per row at temperature T with
     * {@link TopK#select}: ids by decreasing logit (ties: lower id first), and the rest's log-sum-exp at T
     * computed directly over the tokens left out (in double), never as a difference from the total. A NaN or
     * +∞ logit is refused with the token id named.
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
        for (int r = 0; r < n; r++) {
            rest[r] = TopK.select(logits.segment(), logits.offset() + (long) r * vocab, vocab, k, (float) temperature,
                    ids, values, r * k);
        }
        return new TopKBlock(n, k, temperature, ids, values, rest);
    }
}
