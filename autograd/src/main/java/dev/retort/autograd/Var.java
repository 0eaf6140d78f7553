package dev.retort.autograd;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A value in the graph and, once {@link #backward()} has run, its gradient.
 *
 * <p>Each op makes its output with {@link #result}: the value, the inputs, and a {@link Backward} closure that
 * reads the output's gradient and accumulates ({@code +=}) into the inputs' gradients. {@link #backward()}
 * sorts the graph topologically from this var and runs those closures in reverse. That is the whole engine;
 * the mathematics lives in the ops, forward and backward side by side.
 *
 * <p>Memory: an op's output buffer (and anything it saved for its backward) is returned to the pool right
 * after the op's own backward has run, because by then every consumer's backward (which comes earlier in
 * reverse order) is done. A var whose value the caller still wants after backward calls {@link #retain()}.
 */
public class Var {

    /** Pushes {@code gradOutput} (the gradient of this op's output) back into its inputs' gradients. */
    @FunctionalInterface
    public interface Backward {
        void run(Tensor gradOutput);
    }

    private final Graph graph;
    protected Tensor value;
    protected Tensor grad;
    private final boolean ownsValue;
    private final boolean requiresGrad;
    private Var[] inputs;
    private Backward backward;
    private Tensor[] saved = NO_TENSORS;
    private final boolean leaf;
    private boolean retained;
    private boolean released;

    private static final Tensor[] NO_TENSORS = new Tensor[0];
    private static final Var[] NO_VARS = new Var[0];

    Var(Graph graph, Tensor value, boolean ownsValue, boolean requiresGrad, Var[] inputs, Backward backward) {
        this.graph = graph;
        this.value = value;
        this.ownsValue = ownsValue;
        this.requiresGrad = requiresGrad;
        this.inputs = inputs == null ? NO_VARS : inputs;
        this.backward = backward;
        this.leaf = backward == null;
        if (graph != null && (ownsValue || requiresGrad)) graph.own(this);
    }

    /**
     * The output of an op. {@code value} was allocated from {@code graph} when {@code ownsValue} (it is then
     * released after backward), or is a view of an input's memory. The backward closure is kept only when the
     * graph records gradients and some input needs one.
     */
    public static Var result(Graph graph, Tensor value, boolean ownsValue, Backward backward, Var... inputs) {
        boolean needsGrad = false;
        if (graph.gradEnabled()) {
            for (Var in : inputs) needsGrad |= in.requiresGrad();
        }
        return needsGrad
                ? new Var(graph, value, ownsValue, true, inputs.clone(), backward)
                : new Var(graph, value, ownsValue, false, null, null);
    }

    /** Buffers the backward closure reads besides the values of the output and inputs (e.g. RMSNorm's 1/rms). */
    public Var saveForBackward(Tensor... tensors) {
        if (requiresGrad) {
            Tensor[] all = Arrays.copyOf(saved, saved.length + tensors.length);
            System.arraycopy(tensors, 0, all, saved.length, tensors.length);
            saved = all;
        } else {
            for (Tensor t : tensors) graph.release(t);  // nobody will read them
        }
        return this;
    }

    // ---- accessors ------------------------------------------------------------------------------------

    public Tensor value() {
        if (released) {
            throw new IllegalStateException("this value was released after the backward pass; call retain() "
                    + "before backward() to read it afterwards");
        }
        return value;
    }

    /** The gradient, or null if none reached this var. */
    public Tensor grad() { return grad; }

    public boolean requiresGrad() { return requiresGrad; }

    /** The graph that made this var (null for a parameter). */
    public Graph graph() { return graph; }

    public int[] shape() { return value.shape(); }

    public int dim(int axis) { return value.dim(axis); }

    public long size() { return value.size(); }

    public DType dtype() { return value.dtype(); }

    /** For ops: fails with a clear message unless this var holds a contiguous F32 tensor (what kernels read). */
    public void requireContiguousF32(String what) {
        Tensor v = value();
        if (v.dtype() != DType.F32 || !v.isContiguous()) {
            throw new IllegalArgumentException(what + " must be a contiguous F32 tensor, got " + v
                    + (v.isContiguous() ? "" : " (not contiguous)"));
        }
    }

    /** The single element of a one-element var (a loss). */
    public float item() {
        if (value().size() != 1) throw new IllegalStateException("item() of a var with shape " + Arrays.toString(shape()));
        return value.getFlat(0);
    }

    /** Keeps this var's value and gradient readable after {@link #backward()} (until its graph closes). */
    public Var retain() {
        retained = true;
        return this;
    }

    /**
     * The buffer to accumulate this var's gradient into, zero-filled on first use. Ops call this only when
     * {@link #requiresGrad()}.
     */
    public Tensor gradForAccumulation() {
        if (!requiresGrad) throw new IllegalStateException("gradient requested for a var that does not require one");
        if (grad == null) grad = graph.zeros(value.shape());
        return grad;
    }

    // ---- the backward pass ----------------------------------------------------------------------------

    /** Backpropagates from this one-element var (a loss) with seed gradient 1. */
    public void backward() {
        if (value().size() != 1) {
            throw new IllegalStateException("backward() needs a one-element loss, got shape " + Arrays.toString(shape())
                    + "; use backward(gradient) for other outputs");
        }
        Tensor seed = graph.zeros(value.shape());
        seed.setFlat(0, 1f);
        backward(seed);
        graph.release(seed);
    }

    /** Backpropagates from this var with the given gradient of the same shape (copied). */
    public void backward(Tensor gradient) {
        if (!requiresGrad()) {
            throw new IllegalStateException("backward() from a var that does not depend on anything requiring a "
                    + "gradient (no parameters, or built in a no-grad graph)");
        }
        if (!Arrays.equals(gradient.shape(), value().shape())) {
            throw new IllegalArgumentException("gradient of shape " + Arrays.toString(gradient.shape())
                    + " for a var of shape " + Arrays.toString(value.shape()));
        }
        gradient.copyInto(gradForAccumulation());
        retained = true;  // the caller reads the loss after backward
        List<Var> order = topologicalOrder(this);
        for (int i = order.size() - 1; i >= 0; i--) {
            Var v = order.get(i);
            if (v.backward != null && v.grad != null) v.backward.run(v.grad);
            if (v.graph != null) v.finishBackward();
        }
    }

    /** Inputs before outputs, over the vars that require a gradient and lead to {@code root}. */
    private static List<Var> topologicalOrder(Var root) {
        List<Var> order = new ArrayList<>();
        Map<Var, Boolean> visited = new IdentityHashMap<>();
        // Iterative post-order DFS: a deep network must not overflow the Java stack.
        ArrayDeque<Var> stack = new ArrayDeque<>();
        ArrayDeque<Integer> nextInput = new ArrayDeque<>();
        stack.push(root);
        nextInput.push(0);
        visited.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Var v = stack.peek();
            int i = nextInput.pop();
            if (i < v.inputs.length) {
                nextInput.push(i + 1);
                Var in = v.inputs[i];
                if (in.requiresGrad() && visited.put(in, Boolean.TRUE) == null) {
                    stack.push(in);
                    nextInput.push(0);
                }
            } else {
                stack.pop();
                order.add(v);
            }
        }
        return order;
    }

    /** After this var's own backward: drop the closure and give back what only the backward needed. */
    private void finishBackward() {
        backward = null;
        inputs = NO_VARS;
        for (Tensor t : saved) graph.release(t);
        saved = NO_TENSORS;
        if (grad != null && !leaf && !retained) {   // leaves and retained vars keep their gradient
            graph.release(grad);
            grad = null;
        }
        if (!retained && ownsValue && !released) {
            graph.release(value);
            released = true;
        }
    }

    /** At graph close: give back everything still held. */
    void releaseBuffers() {
        for (Tensor t : saved) graph.release(t);
        saved = NO_TENSORS;
        backward = null;
        inputs = NO_VARS;
        if (grad != null && !(this instanceof Parameter)) {
            graph.release(grad);
            grad = null;
        }
        if (ownsValue && !released) {
            graph.release(value);
            released = true;
        }
    }

    @Override
    public String toString() {
        return "Var" + (value == null ? "" : value.dtype() + Arrays.toString(value.shape()))
                + (requiresGrad ? " (requires grad)" : "");
    }
}
