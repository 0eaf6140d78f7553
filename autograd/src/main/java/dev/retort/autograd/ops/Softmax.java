package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;

/** Softmax and log-softmax over the last axis. Both backward passes need only the output. */
public final class Softmax {
    private Softmax() {}

    /** y = softmax(x) row by row over the last axis. */
    public static Var softmax(Var x) {
        Graph g = x.graph();
        x.requireContiguousF32("softmax input");
        int cols = x.dim(-1), rows = (int) (x.size() / cols);
        Tensor xv = x.value();
        Tensor y = g.allocate(x.shape());
        g.kernels().elementwise().softmax(rows, cols, xv.segment(), xv.offset(), y.segment(), 0);
        return Var.result(g, y, true, dy -> {
            // dx += y ⊙ (dy − Σ dy⊙y)
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().softmaxBackward(rows, cols, y.segment(), 0, dy.segment(), 0, dx.segment(), 0);
        }, x);
    }

    /** y = log softmax(x) row by row over the last axis. */
    public static Var logSoftmax(Var x) {
        Graph g = x.graph();
        x.requireContiguousF32("logSoftmax input");
        int cols = x.dim(-1), rows = (int) (x.size() / cols);
        Tensor xv = x.value();
        Tensor y = g.allocate(x.shape());
        g.kernels().elementwise().logSoftmax(rows, cols, xv.segment(), xv.offset(), y.segment(), 0);
        return Var.result(g, y, true, dy -> {
            // dx += dy − exp(y)·Σ dy
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().logSoftmaxBackward(rows, cols, y.segment(), 0, dy.segment(), 0, dx.segment(), 0);
        }, x);
    }
}
