package dev.retort.distill.train;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import java.util.List;

/** What a training phase minimises on a micro-batch. Which parameters train is the phase's business. */
public interface Objective {

    /**
     * The loss of {@code batch}, normalised by {@code divisor} (the target tokens of the whole accumulated
     * batch, so micro-batches add up to the large-batch gradient), at step {@code step} of its phase (from 0).
     * Runs in {@code g}; the trainer calls backward.
     */
    StepLoss loss(Graph g, Batch batch, double divisor, long step);

    /**
     * State the objective itself changes during training and a checkpoint must keep, beyond the trained
     * parameters (a meta-distilled teacher and its optimizer moments, say). Empty for most objectives.
     */
    default List<Parameter> state() {
        return List.of();
    }

    /**
     * Figures of the objective's own to log with the step just taken (metrics.jsonl), by name: numbers, or lists of
     * numbers. Empty for most objectives.
     */
    default java.util.Map<String, Object> metrics() {
        return java.util.Map.of();
    }
}
