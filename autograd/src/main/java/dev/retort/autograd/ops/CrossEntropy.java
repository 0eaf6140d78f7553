package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Gemm.Layout;
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
 * <ul>
 *   <li>{@link #fromLogits}: logits [N × V] exist; the gradient buffer is the only other [N × V] array.
 *   <li>{@link #linear}: fused with the LM head: logits are made {@code chunkRows} rows at a time from the
 *       hidden states and the head's weight, so [N × V] never exists at all. This is the training path.
 * </ul>
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
        Graph g = logits.graph();
        logits.requireContiguousF32("cross-entropy logits");
        int vocab = logits.dim(-1), rows = (int) (logits.size() / vocab);
        checkTargets(targets, rows, vocab);
        double scale = 1.0 / resolveDivisor(divisor, targets, rows);
        boolean wantGrad = g.gradEnabled() && logits.requiresGrad();
        Tensor z = logits.value();
        Elementwise ew = g.kernels().elementwise();

        // One buffer: log-probabilities, then probabilities, then the gradient (softmax − onehot)·scale.
        Tensor work = g.allocate(wantGrad ? rows : Math.min(rows, 256), vocab);
        double lossSum = 0;
        int chunk = work.dim(0);
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int n = Math.min(chunk, rows - r0);
            long workOff = wantGrad ? (long) r0 * vocab : 0;
            lossSum += rowsLossAndGradient(ew, n, vocab, z.segment(), z.offset() + (long) r0 * vocab,
                    work.segment(), workOff, targets, r0, wantGrad, (float) scale);
        }
        Tensor loss = g.allocate(1);
        loss.setFlat(0, (float) (lossSum * scale));
        if (!wantGrad) {
            g.release(work);
            return Var.result(g, loss, true, dy -> {}, logits);
        }
        return Var.result(g, loss, true, dy -> {
            // dlogits += dy · (softmax − onehot)·scale
            Tensor dz = logits.gradForAccumulation();
            ew.axpy((int) dz.size(), dy.getFlat(0), work.segment(), 0, dz.segment(), 0);
        }, logits).saveForBackward(work);
    }

    /**
     * Mean cross-entropy of the logits {@code hidden · headWeightᵀ} without materialising them: hidden is
     * [N × C] (or [..., C]), headWeight is [V × C] (trainable F32 or frozen BF16/F16).
     */
    public static Var linear(Var hidden, Var headWeight, int[] targets, double divisor, int chunkRows) {
        Graph g = hidden.graph();
        hidden.requireContiguousF32("cross-entropy hidden states");
        int c = hidden.dim(-1), rows = (int) (hidden.size() / c);
        Tensor w = headWeight.value();
        if (w.rank() != 2 || w.dim(1) != c || !w.isContiguous()) {
            throw new IllegalArgumentException("cross-entropy: head weight " + w + " does not fit hidden width " + c);
        }
        int vocab = w.dim(0);
        checkTargets(targets, rows, vocab);
        double scale = 1.0 / resolveDivisor(divisor, targets, rows);
        boolean gradHidden = g.gradEnabled() && hidden.requiresGrad();
        boolean gradWeight = g.gradEnabled() && headWeight.requiresGrad();
        boolean wantGrad = gradHidden || gradWeight;
        Tensor h = hidden.value();
        Gemm gemm = g.kernels().gemm();
        Elementwise ew = g.kernels().elementwise();

        int chunk = Math.max(1, Math.min(chunkRows, rows));
        Tensor logits = g.allocate(chunk, vocab);
        Tensor dHidden = gradHidden ? g.zeros(rows, c) : null;   // (softmax − onehot)·scale · W, per row
        Tensor dWeight = gradWeight ? g.zeros(vocab, c) : null;  // Σ_rows (softmax − onehot)·scaleᵀ · h
        double lossSum = 0;
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int n = Math.min(chunk, rows - r0);
            long hOff = h.offset() + (long) r0 * c;
            // logits[n × V] = h[n × C] · Wᵀ
            gemm.gemm(Layout.ABT, n, vocab, c, 1f, h.segment(), hOff, c, w.segment(), w.offset(), c, w.dtype(),
                    0f, logits.segment(), 0, vocab);
            lossSum += rowsLossAndGradient(ew, n, vocab, logits.segment(), 0, logits.segment(), 0, targets, r0,
                    wantGrad, (float) scale);
            if (gradHidden) {
                // dh[n × C] = dlogits[n × V] · W[V × C]
                gemm.gemm(Layout.AB, n, c, vocab, 1f, logits.segment(), 0, vocab, w.segment(), w.offset(), c,
                        w.dtype(), 0f, dHidden.segment(), (long) r0 * c, c);
            }
            if (gradWeight) {
                // dW[V × C] += dlogits[n × V]ᵀ · h[n × C]
                gemm.gemm(Layout.ATB, vocab, c, n, 1f, logits.segment(), 0, vocab, h.segment(), hOff, c,
                        DType.F32, 1f, dWeight.segment(), 0, c);
            }
        }
        g.release(logits);
        Tensor loss = g.allocate(1);
        loss.setFlat(0, (float) (lossSum * scale));
        Var result = Var.result(g, loss, true, dy -> {
            float d = dy.getFlat(0);
            if (gradHidden) {
                Tensor dh = hidden.gradForAccumulation();
                ew.axpy((int) dh.size(), d, dHidden.segment(), 0, dh.segment(), 0);
            }
            if (gradWeight) {
                Tensor dw = headWeight.gradForAccumulation();
                ew.axpy((int) dw.size(), d, dWeight.segment(), 0, dw.segment(), 0);
            }
        }, hidden, headWeight);
        if (gradHidden) result.saveForBackward(dHidden);
        if (gradWeight) result.saveForBackward(dWeight);
        return result;
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
