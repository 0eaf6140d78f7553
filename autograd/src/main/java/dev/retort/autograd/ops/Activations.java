package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;

/** SiLU, the SwiGLU gate of Llama's MLP, and dropout. */
public final class Activations {
    private Activations() {}

    /** y = x·σ(x). */
    public static Var silu(Var x) {
        Graph g = x.graph();
        x.requireContiguousF32("silu input");
        int n = (int) x.size();
        Tensor xv = x.value();
        Tensor y = g.allocate(x.shape());
        g.kernels().elementwise().silu(n, xv.segment(), xv.offset(), y.segment(), 0);
        return Var.result(g, y, true, dy -> {
            // dx += dy · σ(x)·(1 + x·(1 − σ(x)))
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().siluBackward(n, xv.segment(), xv.offset(), dy.segment(), 0, dx.segment(), 0);
        }, x);
    }

    /** y = silu(gate) ⊙ up (gate and up of the same shape). */
    public static Var swiglu(Var gate, Var up) {
        Graph g = gate.graph();
        gate.requireContiguousF32("swiglu gate");
        up.requireContiguousF32("swiglu up");
        if (!Arrays.equals(gate.shape(), up.shape())) {
            throw new IllegalArgumentException("swiglu: gate " + gate.value() + " and up " + up.value() + " differ in shape");
        }
        int n = (int) gate.size();
        Tensor gv = gate.value(), uv = up.value();
        Tensor y = g.allocate(gate.shape());
        g.kernels().elementwise().swiglu(n, gv.segment(), gv.offset(), uv.segment(), uv.offset(), y.segment(), 0);
        return Var.result(g, y, true, dy -> {
            // dgate += dy·up·silu'(gate);  dup += dy·silu(gate)
            Tensor dgate = gate.requiresGrad() ? gate.gradForAccumulation() : g.zeros(gate.shape());
            Tensor dup = up.requiresGrad() ? up.gradForAccumulation() : g.zeros(up.shape());
            g.kernels().elementwise().swigluBackward(n, gv.segment(), gv.offset(), uv.segment(), uv.offset(),
                    dy.segment(), 0, dgate.segment(), 0, dup.segment(), 0);
            if (!gate.requiresGrad()) g.release(dgate);
            if (!up.requiresGrad()) g.release(dup);
        }, gate, up);
    }

    /**
     * Inverted dropout: each element is zeroed with probability p and the survivors scaled by 1/(1−p). The
     * mask comes from {@code seed} alone, so a step is reproducible whatever the thread count.
     */
    public static Var dropout(Var x, float p, long seed) {
        if (p < 0 || p >= 1) throw new IllegalArgumentException("dropout probability must be in [0, 1), got " + p);
        Graph g = x.graph();
        if (p == 0 || !g.gradEnabled()) return x;  // evaluation: identity
        x.requireContiguousF32("dropout input");
        int n = (int) x.size();
        Tensor mask = g.allocate(x.shape());     // 0 or 1/(1−p) per element
        SplittableRandom random = new SplittableRandom(seed);
        float keepScale = 1f / (1f - p);
        for (int i = 0; i < n; i++) mask.setFlat(i, random.nextDouble() < p ? 0f : keepScale);
        Tensor y = g.allocate(x.shape());
        Tensor xv = x.value();
        g.kernels().elementwise().mul(n, xv.segment(), xv.offset(), 1, mask.segment(), 0, 1, y.segment(), 0);
        return Var.result(g, y, true, dy -> {
            // dx += dy ⊙ mask
            Tensor masked = g.allocate(dy.shape());
            g.kernels().elementwise().mul(n, dy.segment(), 0, 1, mask.segment(), 0, 1, masked.segment(), 0);
            Tensor dx = x.gradForAccumulation();
            g.kernels().elementwise().axpy(n, 1f, masked.segment(), 0, dx.segment(), 0);
            g.release(masked);
        }, x).saveForBackward(mask);
    }
}
