package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;

/**
 * Causal grouped-query self-attention as one fused op: the forward keeps only its output and the per-row
 * log-sum-exp; the backward recomputes the probabilities block by block (flash-style), so no [T×T] matrix is
 * ever stored.
 */
public final class Attention {
    private Attention() {}

    /**
     * q is [batch × T × heads·headDim], k and v are [batch × T × kvHeads·headDim] (the projections' outputs,
     * after RoPE); returns [batch × T × heads·headDim]. Scale 1/√headDim.
     */
    public static Var causal(Var q, Var k, Var v, int heads, int kvHeads, int headDim) {
        Graph g = q.graph();
        q.requireContiguousF32("attention q");
        k.requireContiguousF32("attention k");
        v.requireContiguousF32("attention v");
        if (q.value().rank() != 3 || q.dim(2) != heads * headDim || k.dim(2) != kvHeads * headDim
                || v.dim(2) != kvHeads * headDim || k.dim(0) != q.dim(0) || k.dim(1) != q.dim(1)
                || !java.util.Arrays.equals(k.shape(), v.shape())) {
            throw new IllegalArgumentException("attention: q " + q.value() + ", k " + k.value() + ", v " + v.value()
                    + " do not fit " + heads + " heads, " + kvHeads + " kv heads of size " + headDim);
        }
        int batch = q.dim(0), t = q.dim(1);
        float scale = (float) (1.0 / Math.sqrt(headDim));
        long kvBatchStride = (long) t * kvHeads * headDim;
        Tensor qv = q.value(), kv = k.value(), vv = v.value();
        var kernel = g.kernels().attention();

        Tensor out = g.allocate(q.shape());
        Tensor lse = g.allocate(batch, heads, t);
        kernel.forward(batch, t, 0, heads, kvHeads, headDim, scale, qv.segment(), qv.offset(),
                kv.segment(), kv.offset(), vv.segment(), vv.offset(), kvBatchStride, out.segment(), 0, lse.segment(), 0);

        return Var.result(g, out, true, dout -> {
            Tensor dq = q.requiresGrad() ? q.gradForAccumulation() : g.zeros(q.shape());
            Tensor dk = k.requiresGrad() ? k.gradForAccumulation() : g.zeros(k.shape());
            Tensor dv = v.requiresGrad() ? v.gradForAccumulation() : g.zeros(v.shape());
            kernel.backward(batch, t, heads, kvHeads, headDim, scale, qv.segment(), qv.offset(),
                    kv.segment(), kv.offset(), vv.segment(), vv.offset(), kvBatchStride,
                    out.segment(), 0, lse.segment(), 0, dout.segment(), 0,
                    dq.segment(), 0, dk.segment(), 0, dv.segment(), 0);
            if (!q.requiresGrad()) g.release(dq);
            if (!k.requiresGrad()) g.release(dk);
            if (!v.requiresGrad()) g.release(dv);
        }, q, k, v).saveForBackward(lse);
    }
}
