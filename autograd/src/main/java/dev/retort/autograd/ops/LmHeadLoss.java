package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.MemorySegment;

/**
 * A loss over a vocabulary-sized output, the one op behind every LM-head loss in Retort: cross-entropy
 * ({@link CrossEntropy}), the student-side and the teacher-side distillation losses (in {@code distill/loss}).
 * What differs between them is only the arithmetic of one row of logits, a {@link Rows} plug-in; this op owns
 * everything else:
 * <ul>
 *   <li>the chunking: logits z = hidden · headᵀ are made {@code chunkRows} rows at a time, so [N × V] never
 *       exists ({@link #linear}); with ready-made logits ({@link #fromLogits}) the gradient buffer is the only
 *       other [N × V] array. [tokens × vocab] is never held twice.
 *   <li>the GEMMs against the head (it stays in its stored dtype, widened per packed panel by the kernel);
 *   <li>the gradient: rows know dLoss/dz as soon as they have the chunk's probabilities, so they write it over
 *       the chunk during the forward pass, and the op turns it into dHidden [N × C] and dHead [V × C] at once.
 *       Backward only scales those by the incoming gradient.
 * </ul>
 *
 * <pre>
 *   for each chunk of n rows:   z[n × V] = h[n × C] · Wᵀ                       (GEMM A·Bᵀ)
 *                               rows.chunk(z)  → loss terms; z ← dLoss/dz
 *                               dh[n × C]  = dz[n × V] · W[V × C]              (GEMM A·B)
 *                               dW[V × C] += dz[n × V]ᵀ · h[n × C]             (GEMM Aᵀ·B)
 *   backward:                   dhidden += dy·dh;  dhead += dy·dW
 * </pre>
 */
public final class LmHeadLoss {
    private LmHeadLoss() {}

    /** Rows per chunk of {@link #fromLogits}, where the logits already exist. */
    public static final int LOGITS_CHUNK_ROWS = 256;

    /**
     * The per-row arithmetic of a loss over logits. The op calls {@link #begin} once, then {@link #chunk} for
     * consecutive row blocks in row order, then {@link #end}. A row plug-in holds one loss's state: use it once.
     */
    public interface Rows {
        /**
         * Before the first chunk: the op will hand out {@code rows} rows of {@code vocab} logits, at most
         * {@code chunkRows} at a time. Checks the plug-in's own inputs (targets, teacher) against the shape and
         * takes any scratch it needs from {@code g}. {@code gradient}: whether {@link #chunk} must leave
         * dLoss/dz in place of the logits.
         */
        void begin(Graph g, int rows, int vocab, int chunkRows, boolean gradient);

        /**
         * Rows [firstRow, firstRow + n): their logits z [n × V] at {@code offset} (in floats) of {@code logits},
         * row r at offset + r·V. Accumulates the rows' loss terms and, when a gradient was asked for, overwrites
         * z with dLoss/dz (zero rows for rows that do not count).
         */
        void chunk(int firstRow, int n, MemorySegment logits, long offset);

        /** After the last chunk: returns scratch buffers to {@code g} and gives the loss. */
        float end(Graph g);
    }

    /**
     * The loss of the logits {@code hidden · headᵀ} without materialising them: hidden [N × C] (or [..., C]) F32,
     * head [V × C] (trainable F32 or frozen BF16/F16). Gradients reach whichever of the two requires one.
     */
    public static Var linear(Var hidden, Var head, Rows rows, int chunkRows) {
        Graph g = hidden.graph();
        hidden.requireContiguousF32("LM-head loss: hidden states");
        int c = hidden.dim(-1), n = (int) (hidden.size() / c);
        Tensor w = head.value();
        if (w.rank() != 2 || w.dim(1) != c || !w.isContiguous()) {
            throw new IllegalArgumentException("LM-head loss: head " + w + " does not fit hidden width " + c);
        }
        int vocab = w.dim(0);
        boolean gradHidden = g.gradEnabled() && hidden.requiresGrad();
        boolean gradHead = g.gradEnabled() && head.requiresGrad();
        Tensor h = hidden.value();
        Gemm gemm = g.kernels().gemm();
        Elementwise ew = g.kernels().elementwise();

        int chunk = Math.max(1, Math.min(chunkRows, n));
        Tensor z = g.allocate(chunk, vocab);                       // logits, then dLoss/dz, per chunk
        rows.begin(g, n, vocab, chunk, gradHidden || gradHead);
        Tensor dHidden = gradHidden ? g.zeros(n, c) : null;        // dz · W, per row
        Tensor dHead = gradHead ? g.zeros(vocab, c) : null;        // Σ_rows dzᵀ · h
        for (int r0 = 0; r0 < n; r0 += chunk) {
            int m = Math.min(chunk, n - r0);
            long hOff = h.offset() + (long) r0 * c;
            // z[m × V] = h[m × C] · Wᵀ
            gemm.gemm(Layout.ABT, m, vocab, c, 1f, h.segment(), hOff, c, w.segment(), w.offset(), c, w.dtype(),
                    0f, z.segment(), 0, vocab);
            rows.chunk(r0, m, z.segment(), 0);
            if (gradHidden) {
                // dh[m × C] = dz[m × V] · W[V × C]
                gemm.gemm(Layout.AB, m, c, vocab, 1f, z.segment(), 0, vocab, w.segment(), w.offset(), c,
                        w.dtype(), 0f, dHidden.segment(), (long) r0 * c, c);
            }
            if (gradHead) {
                // dW[V × C] += dz[m × V]ᵀ · h[m × C]
                gemm.gemm(Layout.ATB, vocab, c, m, 1f, z.segment(), 0, vocab, h.segment(), hOff, c,
                        DType.F32, 1f, dHead.segment(), 0, c);
            }
        }
        g.release(z);
        Var loss = Var.result(g, scalar(g, rows.end(g)), true, dy -> {
            float d = dy.getFlat(0);
            if (gradHidden) {
                Tensor dh = hidden.gradForAccumulation();
                ew.axpy((int) dh.size(), d, dHidden.segment(), 0, dh.segment(), 0);
            }
            if (gradHead) {
                Tensor dw = head.gradForAccumulation();
                ew.axpy((int) dw.size(), d, dHead.segment(), 0, dw.segment(), 0);
            }
        }, hidden, head);
        if (gradHidden) loss.saveForBackward(dHidden);
        if (gradHead) loss.saveForBackward(dHead);
        return loss;
    }

    /**
     * The same loss of ready-made logits [N × V] (or [..., V]), for tests and small cases. With a gradient, a
     * copy of the logits becomes dLoss/dz chunk by chunk (the one other [N × V] buffer); without, one chunk of
     * scratch is enough.
     */
    public static Var fromLogits(Var logits, Rows rows) {
        Graph g = logits.graph();
        logits.requireContiguousF32("LM-head loss: logits");
        int vocab = logits.dim(-1), n = (int) (logits.size() / vocab);
        boolean wantGrad = g.gradEnabled() && logits.requiresGrad();
        Tensor z = logits.value();
        int chunk = Math.max(1, Math.min(LOGITS_CHUNK_ROWS, n));
        Tensor work = g.allocate(wantGrad ? n : chunk, vocab);
        rows.begin(g, n, vocab, chunk, wantGrad);
        for (int r0 = 0; r0 < n; r0 += chunk) {
            int m = Math.min(chunk, n - r0);
            long workOff = wantGrad ? (long) r0 * vocab : 0;
            MemorySegment.copy(z.segment(), (z.offset() + (long) r0 * vocab) * 4, work.segment(), workOff * 4,
                    (long) m * vocab * 4);
            rows.chunk(r0, m, work.segment(), workOff);
        }
        Tensor loss = scalar(g, rows.end(g));
        if (!wantGrad) {
            g.release(work);
            return Var.result(g, loss, true, dy -> {}, logits);
        }
        Elementwise ew = g.kernels().elementwise();
        return Var.result(g, loss, true, dy -> {
            // dlogits += dy · dz
            Tensor dz = logits.gradForAccumulation();
            ew.axpy((int) dz.size(), dy.getFlat(0), work.segment(), 0, dz.segment(), 0);
        }, logits).saveForBackward(work);
    }

    private static Tensor scalar(Graph g, float value) {
        Tensor loss = g.allocate(1);
        loss.setFlat(0, value);
        return loss;
    }
}
