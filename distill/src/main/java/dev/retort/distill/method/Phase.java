package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.LrSchedule;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.TrainingConfig;
import java.util.List;
import java.util.function.Function;

/**
 * One stretch of training with one objective: what it trains, on what, for how long, at what rate. The trainer
 * builds a fresh optimizer for each phase from its parameter groups.
 *
 * @param name      short name, logged with every step of a plan of several phases
 * @param objective the loss of a micro-batch
 * @param trainable the parameters this phase updates (frozen ones may still be read)
 * @param groups    the optimizer's parameter groups over {@code trainable} (weight decay, LoRA+ rates)
 * @param optimizer builds the phase's optimizer from its groups
 * @param data      where its micro-batches come from
 * @param steps     optimizer steps in this phase
 * @param schedule  learning rate at each step of the phase, from 0
 * @param earlyStop when the phase may end before {@code steps} ({@link EarlyStop}), or null: never
 */
public record Phase(String name, Objective objective, List<Parameter> trainable, List<ParamGroup> groups,
                    Function<List<ParamGroup>, Optimizer> optimizer, BatchSource data, long steps, LrSchedule schedule,
                    EarlyStop earlyStop) {
    /** A phase that always runs all its steps. */
    public Phase(String name, Objective objective, List<Parameter> trainable, List<ParamGroup> groups,
                 Function<List<ParamGroup>, Optimizer> optimizer, BatchSource data, long steps, LrSchedule schedule) {
        this(name, objective, trainable, groups, optimizer, data, steps, schedule, null);
    }

    public Phase {
        trainable = List.copyOf(trainable);
        groups = List.copyOf(groups);
        if (steps < 1) throw new IllegalArgumentException("phase " + name + ": needs at least one step, got " + steps);
    }

    /**
     * The phase of a single-phase run: {@code objective} on {@code rows} in the seeded order of the config, for
     * its --max-steps (or --epochs) steps, with its schedule and optimizer.
     */
    public static Phase standard(String name, Objective objective, List<Parameter> trainable, List<ParamGroup> groups,
                                 TrainingConfig config, PackedData rows) {
        return standard(name, objective, trainable, groups, config, BatchSource.of(rows, config.batchSize(), config.seed()));
    }

    /** As {@link #standard} over micro-batches from {@code batches} (generated ones, say). */
    public static Phase standard(String name, Objective objective, List<Parameter> trainable, List<ParamGroup> groups,
                                 TrainingConfig config, BatchSource batches) {
        long steps = config.totalSteps(batches.batchesPerEpoch());
        return new Phase(name, objective, trainable, groups, config::optimizer, batches, steps, config.schedule(steps));
    }

    /** As {@link #standard} over one parameter group with the config's weight decay. */
    public static Phase standard(String name, Objective objective, List<Parameter> trainable, TrainingConfig config, PackedData rows) {
        return standard(name, objective, trainable, List.of(ParamGroup.of(trainable, config.weightDecay())), config, rows);
    }
}
