package dev.retort.autograd.nn;

import dev.retort.autograd.Var;

/**
 * Something added to a {@link Linear} layer's output, such as a LoRA update:
 * {@code y' = adapter.apply(x, y)} where x is the layer's input and y = x·Wᵀ (+ b) its plain output.
 */
@FunctionalInterface
public interface LinearAdapter {
    Var apply(Var input, Var output);
}
