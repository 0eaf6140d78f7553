package dev.retort.autograd;

import dev.retort.tensor.Tensor;
import java.util.function.Function;

/**
 * Activation checkpointing: run a block (a transformer layer, say) without keeping its activations, and
 * recompute them during the backward pass. Trades one extra forward of the block for its activation memory,
 * which lets long sequences train on small-memory boards.
 *
 * <p>The block must be a pure function of its inputs and of parameters (dropout takes an explicit seed), so
 * the recomputation reproduces the forward exactly.
 */
public final class Checkpoint {
    private Checkpoint() {}

    /** y = block(inputs) where only y (not the block's intermediate activations) is kept for backward. */
    public static Var apply(Graph g, Function<Var[], Var> block, Var... inputs) {
        if (!g.gradEnabled()) return block.apply(inputs);

        // forward: compute in a no-grad graph, keep only the output
        Tensor y;
        try (Graph inner = Graph.of(g.pool(), false, g.kernels())) {
            Var out = block.apply(rebind(inner, inputs, false));
            y = g.allocate(out.shape());
            out.value().copyInto(y);
        }

        Var[] inputsCopy = inputs.clone();
        return Var.result(g, y, true, dy -> {
            // backward: recompute the block with gradients, backpropagate dy through it, and hand the
            // inputs' gradients to the outer graph (parameters inside receive theirs directly).
            try (Graph inner = Graph.of(g.pool(), true, g.kernels())) {
                Var[] leaves = rebind(inner, inputsCopy, true);
                Var out = block.apply(leaves);
                if (out.requiresGrad()) out.backward(dy);
                for (int i = 0; i < inputsCopy.length; i++) {
                    if (inputsCopy[i].requiresGrad() && leaves[i].grad() != null) {
                        Tensor dIn = inputsCopy[i].gradForAccumulation();
                        g.kernels().elementwise().axpy((int) dIn.size(), 1f, leaves[i].grad().segment(), 0, dIn.segment(), 0);
                    }
                }
            }
        }, inputs);
    }

    /** The inputs as fresh leaves of {@code inner} (same memory; gradients collected separately). */
    private static Var[] rebind(Graph inner, Var[] inputs, boolean withGrad) {
        Var[] leaves = new Var[inputs.length];
        for (int i = 0; i < inputs.length; i++) {
            Var in = inputs[i];
            leaves[i] = in instanceof Parameter ? in
                    : (withGrad && in.requiresGrad() ? inner.leaf(in.value()) : inner.constant(in.value()));
        }
        return leaves;
    }
}
