package dev.retort.autograd.optim;

import dev.retort.autograd.Parameter;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * RMSprop as {@code torch.optim.RMSprop} (not centered): with weight decay λ (coupled)
 * <pre>
 *   g ← g + λ·p
 *   v ← α·v + (1 − α)·g²
 *   p ← p − lr · g / (√v + ε)                         (momentum 0)
 *   b ← μ·b + g / (√v + ε);  p ← p − lr · b           (momentum μ)
 * </pre>
 * Cantini et al. found it the best student optimizer for meta-distillation.
 */
public final class RmsProp extends Optimizer {
    private final double alpha, eps, momentum;

    public RmsProp(List<ParamGroup> groups, double learningRate, double alpha, double eps, double momentum) {
        super(groups, learningRate);
        this.alpha = alpha;
        this.eps = eps;
        this.momentum = momentum;
    }

    /** PyTorch's defaults: α = 0.99, ε = 1e-8, no momentum. */
    public RmsProp(List<ParamGroup> groups, double learningRate) {
        this(groups, learningRate, 0.99, 1e-8, 0);
    }

    @Override
    protected void update(Parameter p, double lr, double weightDecay) {
        MemorySegment param = p.value().segment(), grad = p.grad().segment();
        long pOff = p.value().offset();
        MemorySegment v = stateBuffer(p, "square_avg").segment();
        MemorySegment buf = momentum == 0 ? null : stateBuffer(p, "momentum_buffer").segment();
        float a = (float) alpha, epsilon = (float) eps, mu = (float) momentum, wd = (float) weightDecay, rate = (float) lr;
        forChunks(p.value().size(), (from, to) -> {
            for (long i = from; i < to; i++) {
                float w = get(param, pOff + i);
                float g = get(grad, i) + wd * w;
                float vi = a * get(v, i) + (1 - a) * g * g;
                set(v, i, vi);
                float update = g / ((float) Math.sqrt(vi) + epsilon);
                if (buf != null) {
                    update = mu * get(buf, i) + update;
                    set(buf, i, update);
                }
                set(param, pOff + i, w - rate * update);
            }
        });
    }
}
