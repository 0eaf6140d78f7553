package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.kernels.Elementwise;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Next-token cross-entropy over a large vocabulary.
 *
 * <p>loss = (1/divisor) · Σ_rows (logsumexp(z_r) − z_r[target_r]) over rows whose target is not the ignore
 * index; divisor defaults to the number of such rows (a mean). The gradient with respect to the logits is
 * (softmax(z_r) − onehot(target_r)) / divisor, known as soon as the forward pass has the probabilities, so both
 * versions compute it during the forward pass and the backward pass only scales it by the incoming gradient.
 *
 * <p>Both forms are {@link LmHeadLoss} with the cross-entropy row arithmetic ({@link #rows}):
 * {@link #fromLogits} when logits [N × V] exist, {@link #linear} fused with the LM head so that [N × V] never
 * exists at all (the training path).
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /** Targets equal to this are skipped (padding, prompt tokens). */
    public static final int IGNORE_INDEX = -100;

    /** Mean cross-entropy of logits [N × V] against targets[N] (IGNORE_INDEX rows skipped). */
    public static Var fromLogits(Var logits, int[] targets) {
        return fromLogits(logits, targets, 0);
    }

    /**
     * As {@link #fromLogits(Var, int[])} with an explicit divisor (0 = the number of counted rows). Gradient
     * accumulation passes the token count of the whole accumulated batch so micro-batches add up exactly.
     */
    public static Var fromLogits(Var logits, int[] targets, double divisor) {
        return LmHeadLoss.fromLogits(logits, rows(targets, divisor));
    }

    /**
     * Mean cross-entropy of the logits {@code hidden · headWeightᵀ} without materialising them: hidden is
     * [N × C] (or [..., C]), headWeight is [V × C] (trainable F32 or frozen BF16/F16).
     */
    public static Var linear(Var hidden, Var headWeight, int[] targets, double divisor, int chunkRows) {
        return LmHeadLoss.linear(hidden, headWeight, rows(targets, divisor), chunkRows);
    }

    /** The cross-entropy row plug-in of {@link LmHeadLoss}: loss terms lse(z) − z[t], gradient (softmax − onehot)/divisor. */
    public static LmHeadLoss.Rows rows(int[] targets, double divisor) {
        return new LmHeadLoss.Rows() {
            private Elementwise ew;
            private int vocab;
            private boolean gradient;
            private double scale;      // 1 / divisor
            private double lossSum;

            @Override
            public void begin(Graph g, int rows, int vocab, int chunkRows, boolean gradient) {
                checkTargets(targets, rows, vocab);
                this.ew = g.kernels().elementwise();
                this.vocab = vocab;
                this.gradient = gradient;
                this.scale = 1.0 / resolveDivisor(divisor, targets, rows);
            }

            @Override
            public void chunk(int firstRow, int n, MemorySegment logits, long offset) {
                lossSum += rowsLossAndGradient(ew, n, vocab, logits, offset, logits, offset, targets, firstRow, gradient, (float) scale);
            }

            @Override
            public float end(Graph g) {
                return (float) (lossSum * scale);
            }
        };
    }

    /**
     * For n rows of logits at z: returns Σ (lse − z[target]) over counted rows, and when {@code withGradient}
     * leaves (softmax − onehot)·scale in {@code out} (zero rows for ignored targets). out may equal z.
     */
    private static double rowsLossAndGradient(Elementwise ew, int n, int vocab, MemorySegment z, long zOff,
                                              MemorySegment out, long outOff, int[] targets, int targetOffset,
                                              boolean withGradient, float scale) {
        // log-softmax in place of out: loss_r = −logp[target]
        ew.logSoftmax(n, vocab, z, zOff, out, outOff);
        double sum = 0;
        for (int r = 0; r < n; r++) {
            int t = targets[targetOffset + r];
            if (t == IGNORE_INDEX) continue;
            sum -= out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, outOff + (long) r * vocab + t);
        }
        if (!withGradient) return sum;
        // softmax(logp) = softmax(z): the probabilities, then subtract the one-hot and scale
        ew.softmax(n, vocab, out, outOff, out, outOff);
        for (int r = 0; r < n; r++) {
            long row = outOff + (long) r * vocab;
            int t = targets[targetOffset + r];
            if (t == IGNORE_INDEX) {
                out.asSlice(row * 4, (long) vocab * 4).fill((byte) 0);
                continue;
            }
            out.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + t,
                    out.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + t) - 1f);
        }
        ew.scale(n * vocab, scale, out, outOff, out, outOff);
        return sum;
    }

    private static void checkTargets(int[] targets, int rows, int vocab) {
        if (targets.length != rows) {
            throw new IllegalArgumentException("cross-entropy: " + targets.length + " targets for " + rows + " rows");
        }
        for (int i = 0; i < rows; i++) {
            int t = targets[i];
            if (t != IGNORE_INDEX && (t < 0 || t >= vocab)) {
                throw new IllegalArgumentException("cross-entropy: target " + t + " at row " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    private static double resolveDivisor(double divisor, int[] targets, int rows) {
        if (divisor > 0) return divisor;
        int counted = 0;
        for (int i = 0; i < rows; i++) if (targets[i] != IGNORE_INDEX) counted++;
        return Math.max(1, counted);
    }
}
