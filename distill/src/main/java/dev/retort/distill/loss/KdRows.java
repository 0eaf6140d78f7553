package dev.retort.distill.loss;

import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.Elementwise.RowStats;
import dev.retort.tensor.kernels.KdTerm;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.IntConsumer;

/**
 * The per-row arithmetic of {@link DistillationLoss}: for each row of raw student logits z [V] and its teacher
 * (dense logits y [V], or a top-k block row), the cross-entropy, the bucketed divergence, whether the two
 * argmaxes agree, and — when a gradient is wanted — the gradient of the row's loss written over z:
 *
 * <pre>
 *   row loss  = (1 − α)·(lse(z) − z[t]) + α·T²·D(p, q)
 *   dz_j      = scale·[(1 − α)·(softmax(z)_j − [j = t]) + α·T·(q_j/q_{b(j)}·h_{b(j)} − q_j·Σ_b h_b)]
 * </pre>
 *
 * where s = z/T, q = softmax(s), p = softmax(y/T), b(j) is token j's bucket and h_b = q_b·∂D/∂q_b
 * ({@link Divergence#termGradient}). The KD part is the chain rule through the softmax and the bucket sums:
 * q_b = Σ_{j∈b} q_j, ∂q_b/∂s_j = q_j·([j ∈ b] − q_b), so ∂D/∂s_j = Σ_b (∂D/∂q_b)·q_j·([j ∈ b] − q_b)
 * = q_j·g_{b(j)} − q_j·Σ_b q_b·g_b with g = ∂D/∂q; dividing by T for s = z/T and writing q_j·g_b =
 * (q_j/q_b)·h_b gives the formula. The T² of the loss times that 1/T is the α·T in front.
 *
 * <p>The passes over a row's V logits — statistics, divergence terms, gradient — are the {@link Elementwise}
 * KD row kernels (SIMD, with a double-precision scalar twin); what is left here is per-row bookkeeping and the
 * k buckets of a top-k teacher. Rows are independent: they are spread over the thread pool, each writes only
 * its own results, and the caller adds the per-row results up in row order, so sums do not depend on the
 * thread count.
 */
final class KdRows {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final long ROW_GRAIN = 1 << 14;  // elements per task, so tiny vocabularies stay on one thread

    private final Elementwise ew;
    private final KdTerm divergence;
    private final int vocab;
    private final double invT, beta;
    private final double ceWeight;   // 1 − α
    private final double kdWeight;   // α·T: the loss's α·T² times the 1/T of ∂s/∂z
    private final double scale;      // 1 / divisor
    private final boolean withGradient;

    /**
     * Per-row outputs for rows [0, n) of the batch: cross-entropy, divergence, top-1 agreement and, when asked
     * for (else null), the entropy of the teacher's distribution at temperature T (over the same buckets as D).
     */
    record RowResults(double[] ce, double[] kd, boolean[] agree, double[] teacherEntropy) {
        RowResults(int rows, boolean withEntropy) {
            this(new double[rows], new double[rows], new boolean[rows], withEntropy ? new double[rows] : null);
        }
    }

    KdRows(Elementwise ew, KdConfig config, int vocab, double scale, boolean withGradient) {
        this.ew = ew;
        this.divergence = config.divergence().kdTerm();
        this.vocab = vocab;
        this.invT = 1 / config.temperature();
        this.beta = config.beta();
        this.ceWeight = 1 - config.alpha();
        this.kdWeight = config.alpha() * config.temperature();
        this.scale = scale;
        this.withGradient = withGradient;
    }

    /**
     * n rows with a dense teacher: student logits at z (row r at zOff + r·V), teacher logits at y likewise.
     * The teacher rows are scratch: they are overwritten with the bucket gradients h. Results go to batch rows
     * [firstRow, firstRow + n), which are also the rows of {@code targets}.
     */
    void dense(int n, MemorySegment z, long zOff, MemorySegment y, long yOff, int[] targets, int firstRow, RowResults out) {
        forRows(n, r -> denseRow(z, zOff + (long) r * vocab, y, yOff + (long) r * vocab, targets[firstRow + r],
                firstRow + r, out));
    }

    /** n rows with a top-k teacher block (block row r belongs to batch row firstRow + r). */
    void topK(int n, MemorySegment z, long zOff, TopKBlock block, int[] targets, int firstRow, RowResults out) {
        forRows(n, r -> topKRow(z, zOff + (long) r * vocab, block, r, targets[firstRow + r], firstRow + r, out));
    }

    private void forRows(int n, IntConsumer row) {
        int tasks = ThreadPool.tasksFor((long) n * vocab, ROW_GRAIN, n);
        ThreadPool.shared().parallelFor(tasks, t -> {
            int from = (int) ((long) n * t / tasks), to = (int) ((long) n * (t + 1) / tasks);
            for (int r = from; r < to; r++) row.accept(r);
        });
    }

    // ---- full vocabulary: every token its own bucket ------------------------------------------------------

    private void denseRow(MemorySegment z, long zRow, MemorySegment y, long yRow, int target, int row, RowResults out) {
        if (target == CrossEntropy.IGNORE_INDEX) {
            clear(z, zRow);
            return;
        }
        RowStats student = ew.rowStats(vocab, invT, true, z, zRow);     // argmax, lse(z), lse(z/T)
        RowStats teacher = ew.rowStats(vocab, invT, false, y, yRow);    // argmax, lse(y/T)
        if (out.teacherEntropy != null) out.teacherEntropy[row] = entropy(y, yRow, teacher.lseScaled());  // before y becomes h
        // D = Σ_j f(p_j, q_j); H = Σ_j h_j, with h_j kept in place of y_j for the gradient pass
        double[] sums = new double[2];
        ew.kdTerms(divergence, beta, vocab, invT, y, yRow, teacher.lseScaled(), z, zRow, student.lseScaled(), withGradient, sums);
        out.ce[row] = student.lse() - z.getAtIndex(F32, zRow + target);
        out.kd[row] = sums[0];
        out.agree[row] = student.argmax() == teacher.argmax();
        if (!withGradient) return;
        // dz_j = scale·[(1−α)(softmax(z)_j − [j = t]) + α·T·(h_j − q_j·H)]
        ew.kdGradient(vocab, z, zRow, student.lse(), invT, student.lseScaled(), target, scale, ceWeight, kdWeight,
                y, yRow, sums[1], 0, Double.NEGATIVE_INFINITY);
    }

    // ---- top-k: the teacher's k tokens plus one rest bucket -----------------------------------------------

    private void topKRow(MemorySegment z, long zRow, TopKBlock block, int blockRow, int target, int row, RowResults out) {
        if (target == CrossEntropy.IGNORE_INDEX) {
            clear(z, zRow);
            return;
        }
        int k = block.k();
        RowStats s = ew.rowStats(vocab, invT, true, z, zRow);

        // teacher buckets: log p_i = l_i/T − lseP, log p_rest = rest − lseP, lseP = log(Σ_i exp(l_i/T) + exp(rest))
        double lMax = Double.NEGATIVE_INFINITY;
        int tArgmax = -1;
        for (int i = 0; i < k; i++) {
            float l = block.logit(blockRow, i);
            int id = block.id(blockRow, i);
            if (l > lMax || (l == lMax && id < tArgmax)) {
                lMax = l;
                tArgmax = id;
            }
        }
        double lSum = 0;
        for (int i = 0; i < k; i++) lSum += Math.exp((block.logit(blockRow, i) - lMax) * invT);
        double rest = block.restLogSumExp(blockRow);
        double lseP = logAddExp(lMax * invT + Math.log(lSum), rest);

        // student rest bucket, summed directly over the tokens outside the top-k (stable even when it holds
        // almost no mass): hide the top-k logits behind −∞ for one pass, then put them back.
        float[] kept = new float[k];
        for (int i = 0; i < k; i++) {
            long at = zRow + block.id(blockRow, i);
            kept[i] = z.getAtIndex(F32, at);
            z.setAtIndex(F32, at, Float.NEGATIVE_INFINITY);
        }
        double lseRest = ew.rowStats(vocab, invT, false, z, zRow).lseScaled();
        for (int i = 0; i < k; i++) z.setAtIndex(F32, zRow + block.id(blockRow, i), kept[i]);
        boolean hasRest = lseRest != Double.NEGATIVE_INFINITY;   // false only when k = V

        double d = 0, hSum = 0, hRest = 0;
        double[] h = withGradient ? new double[k] : null;
        for (int i = 0; i < k; i++) {
            double logP = block.logit(blockRow, i) * invT - lseP;
            double logQ = kept[i] * invT - s.lseScaled();
            d += divergence.term(logP, logQ, beta);
            if (withGradient) {
                h[i] = divergence.termGradient(logP, logQ, beta);
                hSum += h[i];
            }
        }
        if (hasRest) {
            double logP = rest - lseP, logQ = lseRest - s.lseScaled();
            d += divergence.term(logP, logQ, beta);
            if (withGradient) {
                hRest = divergence.termGradient(logP, logQ, beta);
                hSum += hRest;
            }
        }
        out.ce[row] = s.lse() - z.getAtIndex(F32, zRow + target);
        out.kd[row] = d;
        out.agree[row] = s.argmax() == tArgmax;
        if (out.teacherEntropy != null) {
            double hp = 0;     // −Σ_b p_b·log p_b over the k + 1 buckets
            for (int i = 0; i < k; i++) hp -= xLogX(block.logit(blockRow, i) * invT - lseP);
            if (hasRest) hp -= xLogX(rest - lseP);
            out.teacherEntropy[row] = hp;
        }
        if (!withGradient) return;

        // every token as if in the rest bucket: q_j/q_rest = exp(s_j − lseRest) ...
        ew.kdGradient(vocab, z, zRow, s.lse(), invT, s.lseScaled(), target, scale, ceWeight, kdWeight, null, 0, hSum,
                hRest, hasRest ? lseRest : Double.NEGATIVE_INFINITY);
        // ... then the top-k tokens, each alone in its bucket: q_j/q_b = 1
        for (int i = 0; i < k; i++) {
            int j = block.id(blockRow, i);
            double zj = kept[i];
            double softmax = Math.exp(zj - s.lse());
            double q = invT == 1 ? softmax : Math.exp(zj * invT - s.lseScaled());
            double ce = softmax - (j == target ? 1 : 0);
            z.setAtIndex(F32, zRow + j, (float) (scale * (ceWeight * ce + kdWeight * (h[i] - q * hSum))));
        }
    }

    /**
     * H(p) = −Σ_j p_j·log p_j of the teacher row y [V] at temperature T, p_j = exp(y_j/T − lseP), in double: one
     * pass over the row (the teacher's confidence, and what turns KL(p‖q) into the cross-entropy −Σ p·log q).
     */
    private double entropy(MemorySegment y, long yRow, double lseP) {
        double h = 0;
        for (int j = 0; j < vocab; j++) h -= xLogX(y.getAtIndex(F32, yRow + j) * invT - lseP);
        return h;
    }

    /** p·log p from log p (0 where p underflows). */
    private static double xLogX(double logP) {
        return logP == Double.NEGATIVE_INFINITY ? 0 : Math.exp(logP) * logP;
    }

    private static double logAddExp(double a, double b) {
        double max = Math.max(a, b);
        if (max == Double.NEGATIVE_INFINITY) return max;
        return max + Math.log(Math.exp(a - max) + Math.exp(b - max));
    }

    /** A masked row: no loss, and a zero gradient when the row's buffer is the gradient. */
    private void clear(MemorySegment z, long row) {
        if (withGradient) z.asSlice(row * 4, (long) vocab * 4).fill((byte) 0);
    }
}
