package dev.retort.distill.progressive;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.StepLoss;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code --merge-phases}: the progressive phases without their schedule, as one phase's batches and objective.
 * With n phases, micro-batch i is micro-batch ⌊i / n⌋ of phase (i mod n)'s batches and is scored by that phase's
 * loss, so every loss sees the same data it would in its own phase, only interleaved with the others instead of
 * after them. Exact on resume as the phases are: each source is a function of its index, and the objectives'
 * state (the template bandit they share) is checkpointed once.
 */
final class MergedPhases implements Objective, BatchSource {
    private final List<ProgressiveObjective> objectives = new ArrayList<>();
    private final List<BatchSource> sources = new ArrayList<>();
    private final Map<Batch, ProgressiveObjective> scoredBy = new IdentityHashMap<>();

    /** Adds a phase: its loss and its batches. */
    void add(ProgressiveObjective objective, BatchSource source) {
        objectives.add(objective);
        sources.add(source);
    }

    @Override
    public Batch batch(long index) {
        int n = sources.size(), k = (int) (index % n);
        Batch batch = sources.get(k).batch(index / n);
        scoredBy.put(batch, objectives.get(k));
        return batch;
    }

    @Override
    public int batchesPerEpoch() {
        int least = Integer.MAX_VALUE;
        for (BatchSource s : sources) least = Math.min(least, s.batchesPerEpoch());
        return least * sources.size();
    }

    @Override
    public int epochOf(long index) {
        int n = sources.size();
        return sources.get((int) (index % n)).epochOf(index / n);
    }

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        ProgressiveObjective objective = scoredBy.remove(batch);
        if (objective == null) throw new IllegalStateException("a batch the merged phases did not make");
        return objective.loss(g, batch, divisor, step);
    }

    /** The phases' state, each parameter once (they share one template bandit). */
    @Override
    public List<Parameter> state() {
        List<Parameter> out = new ArrayList<>();
        for (ProgressiveObjective o : objectives) for (Parameter p : o.state()) if (!out.contains(p)) out.add(p);
        return out;
    }

    /** The template weights, the same whichever phase reports them. */
    @Override
    public Map<String, Object> metrics() {
        return objectives.getFirst().metrics();
    }
}
