package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;

/** Sum and mean of all elements, to a one-element var. */
public final class Reductions {
    private Reductions() {}

    /** y = Σ x (shape [1]). */
    public static Var sum(Var x) {
        return scaledSum(x, 1f);
    }

    /** y = Σ x / size (shape [1]). */
    public static Var mean(Var x) {
        return scaledSum(x, (float) (1.0 / x.size()));
    }

    private static Var scaledSum(Var x, float factor) {
        Graph g = x.graph();
        x.requireContiguousF32("sum input");
        int n = (int) x.size();
        Tensor xv = x.value();
        Tensor y = g.allocate(1);
        y.setFlat(0, g.kernels().elementwise().sum(n, xv.segment(), xv.offset()) * factor);
        return Var.result(g, y, true, dy -> {
            // dx[i] += factor · dy  (dy broadcast to every element)
            Tensor dx = x.gradForAccumulation();
            float d = dy.getFlat(0) * factor;
            Tensor scalar = g.allocate(1);
            scalar.setFlat(0, d);
            g.kernels().elementwise().add(n, dx.segment(), 0, 1, scalar.segment(), 0, 0, dx.segment(), 0);
            g.release(scalar);
        }, x);
    }
}
