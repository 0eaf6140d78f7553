package dev.retort.autograd.nn;

import dev.retort.autograd.Module;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.MatMul;
import dev.retort.tensor.Tensor;

/** y = x·Wᵀ (+ b) (+ an optional adapter's term): parameters {@code <name>.weight} [out × in] and optionally {@code <name>.bias} [out]. */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private LinearAdapter adapter;

    /** {@code bias} may be null. A non-F32 weight must be frozen ({@code trainable = false}). */
    public Linear(String name, Tensor weight, Tensor bias, boolean trainable) {
        super(name);
        this.weight = parameter("weight", weight, trainable);
        this.bias = bias == null ? null : parameter("bias", bias, trainable);
    }

    public Var forward(Var x) {
        Var y = MatMul.linear(x, weight);
        if (bias != null) y = Arithmetic.add(y, bias);
        return adapter == null ? y : adapter.apply(x, y);
    }

    /** Attaches an adapter (LoRA) to this layer's output, or removes it with null. */
    public void setAdapter(LinearAdapter adapter) {
        this.adapter = adapter;
    }

    public LinearAdapter adapter() { return adapter; }

    public Parameter weight() { return weight; }

    public Parameter bias() { return bias; }

    public int inFeatures() { return weight.dim(1); }

    public int outFeatures() { return weight.dim(0); }
}
