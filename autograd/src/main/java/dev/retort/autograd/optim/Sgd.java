package dev.retort.autograd.optim;

import dev.retort.autograd.Parameter;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * SGD with momentum, as {@code torch.optim.SGD} (dampening 0): with weight decay λ (coupled, L2)
 * <pre>
 *   g ← g + λ·p
 *   b ← g on the first step, else μ·b + g
 *   p ← p − lr · (nesterov ? g + μ·b : b)
 * </pre>
 */
public final class Sgd extends Optimizer {
    private final double momentum;
    private final boolean nesterov;

    public Sgd(List<ParamGroup> groups, double learningRate, double momentum, boolean nesterov) {
        super(groups, learningRate);
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    @Override
    protected void update(Parameter p, double lr, double weightDecay) {
        MemorySegment param = p.value().segment(), grad = p.grad().segment();
        long pOff = p.value().offset();
        float mu = (float) momentum, wd = (float) weightDecay, rate = (float) lr;
        boolean first = step == 1;
        MemorySegment buf = momentum == 0 ? null : stateBuffer(p, "momentum_buffer").segment();
        forChunks(p.value().size(), (from, to) -> {
            for (long i = from; i < to; i++) {
                float w = get(param, pOff + i);
                float g = get(grad, i) + wd * w;
                if (buf != null) {
                    float b = first ? g : mu * get(buf, i) + g;
                    set(buf, i, b);
                    g = nesterov ? g + mu * b : b;
                }
                set(param, pOff + i, w - rate * g);
            }
        });
    }
}
