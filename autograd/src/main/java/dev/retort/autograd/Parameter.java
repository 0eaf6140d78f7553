package dev.retort.autograd;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;

/**
 * A named weight that outlives steps. Its name is the Hugging Face state-dict key
 * ({@code model.layers.3.self_attn.q_proj.weight}) so checkpoints and adapters map one to one.
 *
 * <p>A trainable parameter is F32 and accumulates its gradient across backward passes (gradient accumulation)
 * until {@link #zeroGrad()}. A frozen parameter may be any dtype, typically BF16/F16 memory-mapped from a
 * safetensors file, and is never copied: ops read it in place and push gradients through it to their other
 * inputs only.
 */
public final class Parameter extends Var {
    private final String name;
    private boolean trainable;
    private Arena gradArena;

    public Parameter(String name, Tensor value, boolean trainable) {
        super(null, value, false, trainable, null, null);
        if (trainable && value.dtype() != DType.F32) {
            throw new IllegalArgumentException("parameter '" + name + "' is " + value.dtype()
                    + "; only F32 parameters can be trained (freeze it, or convert it to F32 first)");
        }
        this.name = name;
        this.trainable = trainable;
    }

    public String name() { return name; }

    public boolean trainable() { return trainable; }

    @Override
    public boolean requiresGrad() { return trainable; }

    /** Freezes or unfreezes this parameter (unfreezing needs F32 values). */
    public void setTrainable(boolean trainable) {
        if (trainable && value.dtype() != DType.F32) {
            throw new IllegalArgumentException("parameter '" + name + "' is " + value.dtype() + " and cannot be trained");
        }
        this.trainable = trainable;
    }

    /** Replaces the value (loading weights); the shape must match. */
    public void setValue(Tensor newValue) {
        if (!Arrays.equals(newValue.shape(), value.shape())) {
            throw new IllegalArgumentException("parameter '" + name + "' has shape " + Arrays.toString(value.shape())
                    + ", cannot load a value of shape " + Arrays.toString(newValue.shape()));
        }
        if (trainable && newValue.dtype() != DType.F32) {
            throw new IllegalArgumentException("trainable parameter '" + name + "' needs F32, got " + newValue.dtype());
        }
        this.value = newValue;
    }

    @Override
    public Tensor gradForAccumulation() {
        if (!trainable) throw new IllegalStateException("parameter '" + name + "' is frozen and has no gradient");
        if (grad == null) {
            if (gradArena == null) gradArena = Arena.ofShared();
            grad = Tensor.zeros(gradArena, DType.F32, value.shape());
        }
        return grad;
    }

    /** Sets the accumulated gradient to zero (it keeps its buffer). */
    public void zeroGrad() {
        if (grad != null) grad.segment().fill((byte) 0);
    }

    @Override
    public String toString() {
        return name + " " + value.dtype() + Arrays.toString(value.shape()) + (trainable ? "" : " (frozen)");
    }
}
