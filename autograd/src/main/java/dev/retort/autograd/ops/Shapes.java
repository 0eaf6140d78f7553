package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import java.util.Arrays;

/** Ops that move elements without arithmetic: reshape (a view), transpose, slice and concat (copies). */
public final class Shapes {
    private Shapes() {}

    /** The same elements with a new shape (one dimension may be -1); shares memory with x. */
    public static Var reshape(Var x, int... shape) {
        Graph g = x.graph();
        Tensor y = x.value().reshape(shape);
        return Var.result(g, y, false, dy -> {
            // The gradient has y's shape; x's gradient is the same elements in x's shape.
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().axpy((int) dy.size(), 1f, dy.segment(), 0, dx.segment(), 0);
        }, x);
    }

    /** Swaps two axes into a new contiguous tensor (kernels want row-major inputs). */
    public static Var transpose(Var x, int axis0, int axis1) {
        Graph g = x.graph();
        Tensor view = x.value().transpose(axis0, axis1);
        Tensor y = g.allocate(view.shape());
        view.copyInto(y);
        return Var.result(g, y, true, dy -> {
            // dx += dyᵀ: view x's gradient transposed, and add dy into it element by element.
            Tensor dxT = x.gradForAccumulation().transpose(axis0, axis1);
            addInto(dy, dxT);
        }, x);
    }

    /** Elements [start, end) of {@code axis}, as a new contiguous tensor. */
    public static Var slice(Var x, int axis, int start, int end) {
        Graph g = x.graph();
        Tensor view = x.value().slice(axis, start, end);
        Tensor y = g.allocate(view.shape());
        view.copyInto(y);
        return Var.result(g, y, true, dy -> {
            Tensor dxSlice = x.gradForAccumulation().slice(axis, start, end);
            addInto(dy, dxSlice);
        }, x);
    }

    /** Joins vars of equal shape except along {@code axis}. */
    public static Var concat(int axis, Var... xs) {
        if (xs.length == 0) throw new IllegalArgumentException("concat of nothing");
        Graph g = xs[0].graph();
        int rank = xs[0].value().rank();
        int a = axis < 0 ? rank + axis : axis;
        int[] shape = xs[0].shape();
        int total = 0;
        for (Var x : xs) {
            int[] s = x.shape();
            if (s.length != rank) throw new IllegalArgumentException("concat: ranks differ: " + Arrays.toString(shape) + " and " + Arrays.toString(s));
            for (int i = 0; i < rank; i++) {
                if (i != a && s[i] != shape[i]) {
                    throw new IllegalArgumentException("concat along axis " + a + ": shapes " + Arrays.toString(shape) + " and " + Arrays.toString(s) + " differ on axis " + i);
                }
            }
            total += s[a];
        }
        shape[a] = total;
        Tensor y = g.allocate(shape);
        int at = 0;
        int[] starts = new int[xs.length];
        for (int i = 0; i < xs.length; i++) {
            starts[i] = at;
            int len = xs[i].dim(a);
            xs[i].value().copyInto(y.slice(a, at, at + len));
            at += len;
        }
        return Var.result(g, y, true, dy -> {
            for (int i = 0; i < xs.length; i++) {
                if (!xs[i].requiresGrad()) continue;
                addInto(dy.slice(a, starts[i], starts[i] + xs[i].dim(a)), xs[i].gradForAccumulation());
            }
        }, xs);
    }

    /** dst += src element by element, for any strides (the shape bookkeeping of the ops above; not hot). */
    static void addInto(Tensor src, Tensor dst) {
        long n = src.size();
        if (src.isContiguous() && dst.isContiguous()) {
            for (long i = 0; i < n; i++) {
                long s = src.offset() + i, d = dst.offset() + i;
                dst.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, d,
                        dst.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, d)
                                + src.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, s));
            }
            return;
        }
        for (long i = 0; i < n; i++) dst.setFlat(i, dst.getFlat(i) + src.getFlat(i));
    }
}
