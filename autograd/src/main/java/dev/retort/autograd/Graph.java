package dev.retort.autograd;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Kernels;
import java.util.ArrayList;
import java.util.List;

/**
 * One forward (and backward) pass: where its buffers come from, whether it records gradients, and which
 * kernels it runs. A training step opens a graph, builds the loss with ops, calls {@link Var#backward()}, and
 * closes the graph, which returns every buffer still held to the pool. A no-grad graph (inference, a frozen
 * teacher) records nothing: ops compute values only.
 *
 * <pre>{@code
 * try (Graph g = Graph.withGrad(pool)) {
 *     Var loss = model.loss(g, batch);
 *     loss.backward();          // gradients land in the parameters' .grad
 * }                             // activations go back to the pool
 * }</pre>
 */
public final class Graph implements AutoCloseable {
    private final BufferPool pool;
    private final boolean gradEnabled;
    private final Kernels kernels;
    private final List<Var> owners = new ArrayList<>();
    private boolean closed;

    private Graph(BufferPool pool, boolean gradEnabled, Kernels kernels) {
        this.pool = pool;
        this.gradEnabled = gradEnabled;
        this.kernels = kernels;
    }

    /** A graph that records operations for a backward pass. */
    public static Graph withGrad(BufferPool pool) {
        return new Graph(pool, true, Kernels.get());
    }

    /** A graph that only computes values (teachers, evaluation, generation). */
    public static Graph noGrad(BufferPool pool) {
        return new Graph(pool, false, Kernels.get());
    }

    /** The same kind of graph running other kernels (tests compare implementations). */
    public static Graph of(BufferPool pool, boolean gradEnabled, Kernels kernels) {
        return new Graph(pool, gradEnabled, kernels);
    }

    public boolean gradEnabled() { return gradEnabled; }
    public Kernels kernels() { return kernels; }
    public BufferPool pool() { return pool; }

    /** A constant input (token embeddings' ids live elsewhere; this is for float data): no gradient. */
    public Var constant(Tensor value) {
        return new Var(this, value, false, false, null, null);
    }

    /** A leaf that receives a gradient (tests and finite-difference checks differentiate with respect to it). */
    public Var leaf(Tensor value) {
        return new Var(this, value, false, gradEnabled, null, null);
    }

    // ---- used by ops ----------------------------------------------------------------------------------

    /** For ops: an uninitialised F32 buffer from the pool (an op's output, or a buffer saved for backward). */
    public Tensor allocate(int... shape) {
        checkOpen();
        return pool.allocate(DType.F32, shape);
    }

    /** For ops: a zero-filled F32 buffer from the pool. */
    public Tensor zeros(int... shape) {
        checkOpen();
        return pool.zeros(DType.F32, shape);
    }

    /** Remembers a var whose buffers come from the pool, to release them at close if backward did not. */
    void own(Var v) {
        owners.add(v);
    }

    /** For ops: returns a scratch buffer from {@link #allocate} that is no longer needed. */
    public void release(Tensor t) {
        pool.release(t);
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this graph is closed; open a new one for the next step");
    }

    /** Returns every buffer this graph still holds to the pool. Vars of this graph must not be used after. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (Var v : owners) v.releaseBuffers();
        owners.clear();
    }
}
