package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Broadcast;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise;
import java.util.Arrays;

/**
 * Element-wise add and multiply with NumPy broadcasting, and scaling. The backward of a broadcast sums the
 * gradient over the axes that were broadcast ({@link Broadcast#sumToShape}).
 */
public final class Arithmetic {
    private Arithmetic() {}

    /** y = a + b (broadcast). */
    public static Var add(Var a, Var b) {
        Graph g = a.graph() != null ? a.graph() : b.graph();
        a.requireContiguousF32("add operand");
        b.requireContiguousF32("add operand");
        Elementwise ew = g.kernels().elementwise();
        Tensor av = a.value(), bv = b.value();
        int[] shape = Broadcast.broadcastShape(av.shape(), bv.shape());
        Tensor y = g.allocate(shape);
        if (Arrays.equals(av.shape(), bv.shape())) {
            ew.add((int) av.size(), av.segment(), av.offset(), 1, bv.segment(), bv.offset(), 1, y.segment(), 0);
        } else {
            Broadcast.add(g.kernels(), av, bv, y);
        }
        return Var.result(g, y, true, dy -> {
            // da += Σ_broadcast dy;  db += Σ_broadcast dy
            accumulateReduced(g, a, dy);
            accumulateReduced(g, b, dy);
        }, a, b);
    }

    /** y = a ⊙ b (broadcast). */
    public static Var mul(Var a, Var b) {
        Graph g = a.graph() != null ? a.graph() : b.graph();
        a.requireContiguousF32("mul operand");
        b.requireContiguousF32("mul operand");
        Tensor av = a.value(), bv = b.value();
        int[] shape = Broadcast.broadcastShape(av.shape(), bv.shape());
        Tensor y = g.allocate(shape);
        Broadcast.mul(g.kernels(), av, bv, y);
        return Var.result(g, y, true, dy -> {
            // da += Σ_broadcast dy ⊙ b;  db += Σ_broadcast dy ⊙ a
            for (int side = 0; side < 2; side++) {
                Var target = side == 0 ? a : b;
                if (!target.requiresGrad()) continue;
                Tensor other = side == 0 ? bv : av;
                Tensor product = g.allocate(shape);
                Broadcast.mul(g.kernels(), dy, other, product);
                accumulateReduced(g, target, product);
                g.release(product);
            }
        }, a, b);
    }

    /** y = alpha · x. */
    public static Var scale(Var x, float alpha) {
        Graph g = x.graph();
        x.requireContiguousF32("scale operand");
        Tensor xv = x.value();
        int n = (int) xv.size();
        Tensor y = g.allocate(xv.shape());
        g.kernels().elementwise().scale(n, alpha, xv.segment(), xv.offset(), y.segment(), 0);
        return Var.result(g, y, true, dy -> {
            // dx += alpha · dy
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().axpy(n, alpha, dy.segment(), 0, dx.segment(), 0);
        }, x);
    }

    /** target.grad += gradient summed down to target's shape. */
    private static void accumulateReduced(Graph g, Var target, Tensor gradient) {
        if (!target.requiresGrad()) return;
        Tensor dTarget = target.gradForAccumulation();
        Elementwise ew = g.kernels().elementwise();
        if (Arrays.equals(gradient.shape(), dTarget.shape())) {
            ew.axpy((int) dTarget.size(), 1f, gradient.segment(), gradient.offset(), dTarget.segment(), 0);
            return;
        }
        Tensor reduced = g.zeros(dTarget.shape());
        Broadcast.sumToShape(g.kernels(), gradient, reduced);
        ew.axpy((int) dTarget.size(), 1f, reduced.segment(), 0, dTarget.segment(), 0);
        g.release(reduced);
    }
}
