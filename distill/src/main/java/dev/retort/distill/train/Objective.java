package dev.retort.distill.train;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import java.util.List;

/** What a training method minimises on a micro-batch, and the parameters it trains. */
public interface Objective {

    /**
     * The loss of {@code batch}, normalised by {@code divisor} (the target tokens of the whole accumulated
     * batch, so micro-batches add up to the large-batch gradient). Runs in {@code g}; the trainer calls
     * backward.
     */
    StepLoss loss(Graph g, Batch batch, double divisor, long step);

    /** The same quantities without gradients, for held-out evaluation. */
    default StepLoss evaluate(Graph g, Batch batch) {
        return loss(g, batch, Math.max(1, batch.targetCount()), -1);
    }

    /** Parameter groups for the optimizer (LoRA+ puts B matrices in a group with a larger rate). */
    List<dev.retort.autograd.optim.ParamGroup> parameterGroups(double weightDecay);

    /** The trainable parameters, by name (what a checkpoint saves). */
    List<Parameter> trainable();

    /** Short name for logs ("sft", "kd", "neo"). */
    String name();
}
