package dev.retort.autograd.optim;

import dev.retort.autograd.Parameter;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Updates parameters from their accumulated gradients. Parameters come in {@link ParamGroup}s, each with its
 * own learning-rate multiplier and weight decay (LoRA+ gives the B matrices a larger rate; norms and biases
 * usually get no decay). The base learning rate is set before each step, typically from an {@link LrSchedule}.
 *
 * <p>State (moments, momentum buffers, the step count) can be read with {@link #state()} and restored with
 * {@link #loadState}: a resumed run then continues bit for bit.
 */
public abstract class Optimizer {
    /** Elements per parallel task of an update; fixed, so updates are the same for any thread count. */
    private static final int CHUNK = 1 << 15;

    protected final List<ParamGroup> groups;
    protected double learningRate;
    protected long step;
    private final Arena stateArena = Arena.ofShared();
    private final Map<String, Tensor> state = new LinkedHashMap<>();

    protected Optimizer(List<ParamGroup> groups, double learningRate) {
        this.groups = List.copyOf(groups);
        this.learningRate = learningRate;
        for (ParamGroup group : groups) {
            for (Parameter p : group.parameters()) {
                if (!p.trainable()) throw new IllegalArgumentException("parameter '" + p.name() + "' is frozen; do not give it to an optimizer");
            }
        }
    }

    /** The base learning rate for the next step (multiplied by each group's {@code lrScale}). */
    public void setLearningRate(double learningRate) {
        this.learningRate = learningRate;
    }

    public double learningRate() { return learningRate; }

    /** Number of steps taken. */
    public long stepCount() { return step; }

    /** Applies one update to every parameter that has a gradient. */
    public final void step() {
        step++;
        for (ParamGroup group : groups) {
            double lr = learningRate * group.lrScale();
            for (Parameter p : group.parameters()) {
                if (p.grad() == null) continue;
                update(p, lr, group.weightDecay());
            }
        }
    }

    /** Updates one parameter; {@link #step} has already been incremented. */
    protected abstract void update(Parameter p, double lr, double weightDecay);

    /** Sets every parameter's gradient to zero. */
    public void zeroGrad() {
        for (ParamGroup group : groups) for (Parameter p : group.parameters()) p.zeroGrad();
    }

    public List<Parameter> parameters() {
        List<Parameter> all = new ArrayList<>();
        for (ParamGroup g : groups) all.addAll(g.parameters());
        return all;
    }

    /** A per-parameter state buffer called {@code "<parameter>.<kind>"}, zero-filled when first asked for. */
    protected Tensor stateBuffer(Parameter p, String kind) {
        return state.computeIfAbsent(p.name() + "." + kind, key -> Tensor.zeros(stateArena, DType.F32, p.value().shape()));
    }

    /** The optimizer's state tensors by name (live views: copy them to save). */
    public Map<String, Tensor> state() {
        return Map.copyOf(state);
    }

    /**
     * Sets the step count alone, for a caller whose state tensors were restored in place (a checkpoint that
     * aliases them, as the meta-distilled teacher's does).
     */
    public void restoreStepCount(long stepCount) {
        if (stepCount < 0) throw new IllegalArgumentException("optimizer step count must be >= 0, got " + stepCount);
        this.step = stepCount;
    }

    /** Restores state saved from an optimizer of the same kind over the same parameters. */
    public void loadState(Map<String, Tensor> saved, long stepCount) {
        for (Map.Entry<String, Tensor> e : saved.entrySet()) {
            String key = e.getKey();
            int dot = key.lastIndexOf('.');
            Parameter p = dot < 0 ? null : findParameter(key.substring(0, dot));
            if (p == null) throw new IllegalArgumentException("optimizer state '" + key + "' names no parameter of this optimizer");
            if (!Arrays.equals(e.getValue().shape(), p.value().shape())) {
                throw new IllegalArgumentException("optimizer state '" + key + "' has shape " + Arrays.toString(e.getValue().shape())
                        + ", parameter has " + Arrays.toString(p.value().shape()));
            }
            e.getValue().copyInto(stateBuffer(p, key.substring(dot + 1)));
        }
        if (stepCount > 0) {   // after a step every parameter has state: a missing one would silently restart from zero
            for (ParamGroup group : groups) {
                for (Parameter p : group.parameters()) {
                    if (saved.keySet().stream().noneMatch(k -> k.startsWith(p.name() + "."))) {
                        throw new IllegalArgumentException("optimizer state of parameter '" + p.name() + "' is missing after "
                                + stepCount + " steps");
                    }
                }
            }
        }
        this.step = stepCount;
    }

    private Parameter findParameter(String name) {
        for (ParamGroup g : groups) for (Parameter p : g.parameters()) if (p.name().equals(name)) return p;
        return null;
    }

    /** Runs {@code body} over [0, n) in fixed chunks on the shared pool. */
    protected static void forChunks(long n, ThreadPool.RangeBody body) {
        ThreadPool.shared().parallelForRange(n, CHUNK, body);
    }

    protected static float get(MemorySegment s, long i) {
        return s.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i);
    }

    protected static void set(MemorySegment s, long i, float v) {
        s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
    }
}
