package dev.retort.autograd.nn;

import dev.retort.autograd.Module;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.RmsNorm;
import dev.retort.tensor.Tensor;

/** RMSNorm with a learned scale {@code <name>.weight} [dim]. */
public final class RmsNormLayer extends Module {
    private final Parameter weight;
    private final float eps;

    public RmsNormLayer(String name, Tensor weight, float eps, boolean trainable) {
        super(name);
        this.weight = parameter("weight", weight, trainable);
        this.eps = eps;
    }

    public Var forward(Var x) {
        return RmsNorm.apply(x, weight, eps);
    }

    public Parameter weight() { return weight; }
}
