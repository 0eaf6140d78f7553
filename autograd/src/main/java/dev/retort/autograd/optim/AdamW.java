package dev.retort.autograd.optim;

import dev.retort.autograd.Parameter;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Adam with decoupled weight decay (Loshchilov &amp; Hutter), in the form PyTorch's {@code torch.optim.AdamW}
 * computes it, so the two agree to rounding:
 * <pre>
 *   p ← p · (1 − lr·λ)                         decoupled decay
 *   m ← β1·m + (1 − β1)·g                      first moment
 *   v ← β2·v + (1 − β2)·g²                     second moment
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 * </pre>
 */
public final class AdamW extends Optimizer {
    private final double beta1, beta2, eps;

    public AdamW(List<ParamGroup> groups, double learningRate, double beta1, double beta2, double eps) {
        super(groups, learningRate);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /** The usual defaults: β = (0.9, 0.999), ε = 1e-8. */
    public AdamW(List<ParamGroup> groups, double learningRate) {
        this(groups, learningRate, 0.9, 0.999, 1e-8);
    }

    @Override
    protected void update(Parameter p, double lr, double weightDecay) {
        MemorySegment param = p.value().segment(), grad = p.grad().segment();
        long pOff = p.value().offset();
        MemorySegment m = stateBuffer(p, "exp_avg").segment();
        MemorySegment v = stateBuffer(p, "exp_avg_sq").segment();
        float decay = (float) (1 - lr * weightDecay);
        float b1 = (float) beta1, b2 = (float) beta2;
        float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
        float bc2Sqrt = (float) Math.sqrt(1 - Math.pow(beta2, step));
        float epsilon = (float) eps;
        forChunks(p.value().size(), (from, to) -> {
            for (long i = from; i < to; i++) {
                float g = get(grad, i);
                float mi = b1 * get(m, i) + (1 - b1) * g;
                float vi = b2 * get(v, i) + (1 - b2) * g * g;
                set(m, i, mi);
                set(v, i, vi);
                float denom = (float) Math.sqrt(vi) / bc2Sqrt + epsilon;
                set(param, pOff + i, get(param, pOff + i) * decay - stepSize * mi / denom);
            }
        });
    }
}
