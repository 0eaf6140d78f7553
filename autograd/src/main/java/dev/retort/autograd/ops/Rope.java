package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise.RopeLayout;

/**
 * Rotary position embeddings on q or k. The rotation is orthogonal, so its backward is the inverse rotation
 * (by −θ) applied to the gradient.
 */
public final class Rope {
    private Rope() {}

    /**
     * x is [tokens × heads·headDim] (or any shape whose last axis is heads·headDim); token t is at
     * {@code positions[t]}; cos and sin are [maxPosition × headDim/2] tables (see RopeTables).
     */
    public static Var apply(Var x, int heads, int headDim, int[] positions, Tensor cos, Tensor sin, RopeLayout layout) {
        Graph g = x.graph();
        x.requireContiguousF32("rope input");
        int width = heads * headDim;
        if (x.dim(-1) != width) {
            throw new IllegalArgumentException("rope: last axis of " + x.value() + " is not heads·headDim = " + width);
        }
        int tokens = (int) (x.size() / width);
        if (positions.length < tokens) throw new IllegalArgumentException("rope: " + positions.length + " positions for " + tokens + " tokens");
        int[] pos = positions.clone();

        // forward: y = rotate(x, +θ(pos))
        Tensor y = g.allocate(x.shape());
        x.value().copyInto(y);
        g.kernels().elementwise().rope(layout, tokens, heads, headDim, width, y.segment(), 0, pos, cos.segment(), sin.segment(), false);

        return Var.result(g, y, true, dy -> {
            // backward: dx += rotate(dy, −θ(pos))
            Tensor rotated = g.allocate(dy.shape());
            dy.copyInto(rotated);
            g.kernels().elementwise().rope(layout, tokens, heads, headDim, width, rotated.segment(), 0, pos, cos.segment(), sin.segment(), true);
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().axpy((int) dx.size(), 1f, rotated.segment(), 0, dx.segment(), 0);
            g.release(rotated);
        }, x);
    }
}
