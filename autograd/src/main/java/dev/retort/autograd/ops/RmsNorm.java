package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;

/** RMSNorm over the last axis: y = x / √(mean(x²) + eps) ⊙ weight. */
public final class RmsNorm {
    private RmsNorm() {}

    /** x is [..., dim] F32, weight is [dim] F32 (trainable or frozen); y has x's shape. */
    public static Var apply(Var x, Var weight, float eps) {
        Graph g = x.graph();
        x.requireContiguousF32("rmsNorm input");
        int dim = x.dim(-1);
        if (weight.value().rank() != 1 || weight.dim(0) != dim || weight.dtype() != DType.F32) {
            throw new IllegalArgumentException("rmsNorm: weight " + weight.value() + " does not fit x of width " + dim + " (expected F32[" + dim + "])");
        }
        int rows = (int) (x.size() / dim);
        Tensor xv = x.value(), wv = weight.value();

        // forward: y = x·rstd ⊙ w, keeping rstd[rows] for the backward pass
        Tensor y = g.allocate(x.shape());
        Tensor rstd = g.allocate(rows);
        g.kernels().elementwise().rmsNorm(rows, dim, eps, xv.segment(), xv.offset(), wv.segment(), wv.offset(),
                y.segment(), 0, rstd.segment(), 0);

        return Var.result(g, y, true, dy -> {
            // backward: dx += rstd·(w⊙dy) − x·rstd³·mean(x⊙w⊙dy);  dw += Σ_rows dy⊙x·rstd
            Tensor dx = x.requiresGrad() ? x.gradForAccumulation() : g.zeros(x.shape());
            Tensor dw = weight.requiresGrad() ? weight.gradForAccumulation() : null;
            g.kernels().elementwise().rmsNormBackward(rows, dim, xv.segment(), xv.offset(), wv.segment(), wv.offset(),
                    rstd.segment(), 0, dy.segment(), 0, dx.segment(), 0, dw == null ? null : dw.segment(), 0);
            if (!x.requiresGrad()) g.release(dx);
        }, x, weight).saveForBackward(rstd);
    }
}
