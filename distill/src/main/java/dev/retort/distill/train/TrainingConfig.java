package dev.retort.distill.train;

import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.LrSchedule;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.autograd.optim.RmsProp;
import java.util.List;
import java.util.Locale;

/**
 * How a run trains, besides the models, the data and the method: the step budget, batches, learning-rate
 * schedule, optimizer, seed, and how often it evaluates and checkpoints. A resumed run must use the same values
 * (the checkpoint stores them and refuses a mismatch). A method's phases take their steps and schedule from here
 * unless the method says otherwise.
 *
 * @param maxSteps        optimizer steps (0 = derive from epochs)
 * @param epochs          passes over the training rows when maxSteps is 0
 * @param batchSize       rows per micro-batch
 * @param gradAccum       micro-batches per optimizer step
 * @param warmupSteps     linear warm-up, then cosine decay to minLr
 * @param clip            global gradient-norm clip (0 = none)
 * @param optimizer       adamw or rmsprop
 * @param evalEvery       evaluate on held-out data every N steps (0 = only at the end)
 * @param evalBatches     held-out batches per evaluation
 * @param checkpointEvery write a checkpoint every N steps (0 = only at the end)
 */
public record TrainingConfig(
        long maxSteps,
        int epochs,
        int batchSize,
        int gradAccum,
        double lr,
        double minLr,
        long warmupSteps,
        double weightDecay,
        double clip,
        String optimizer,
        long seed,
        int evalEvery,
        int evalBatches,
        int checkpointEvery) {

    /** The command line's defaults. */
    public static final TrainingConfig DEFAULTS = new TrainingConfig(0, 1, 8, 1, 2e-4, 0, 0, 0, 1.0, "adamw", 42, 0, 8, 0);

    public TrainingConfig {
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
        if (gradAccum < 1) throw new IllegalArgumentException("--grad-accum must be at least 1, got " + gradAccum);
        if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("--lr must be a positive number, got " + lr);
        if (!(minLr >= 0 && minLr <= lr)) throw new IllegalArgumentException("--min-lr must be in [0, --lr = " + lr + "], got " + minLr);
        if (warmupSteps < 0) throw new IllegalArgumentException("--warmup-steps must be >= 0, got " + warmupSteps);
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) throw new IllegalArgumentException("--weight-decay must be a number >= 0, got " + weightDecay);
        if (!(clip >= 0) || Double.isInfinite(clip)) throw new IllegalArgumentException("--clip must be a number >= 0 (0 = none), got " + clip);
        if (evalEvery < 0 || checkpointEvery < 0) throw new IllegalArgumentException("--eval-every and --checkpoint-every must be >= 0");
        if (evalBatches < 1) throw new IllegalArgumentException("--eval-batches must be at least 1, got " + evalBatches);
        if (maxSteps < 0 || epochs < 0) throw new IllegalArgumentException("--max-steps and --epochs must be >= 0");
        if (maxSteps == 0 && epochs == 0) throw new IllegalArgumentException("give --max-steps or --epochs");
        optimizer = optimizer.toLowerCase(Locale.ROOT);
        if (!optimizer.equals("adamw") && !optimizer.equals("rmsprop")) {
            throw new IllegalArgumentException("--optimizer must be adamw or rmsprop, got '" + optimizer + "'");
        }
    }

    /** Steps the run takes: maxSteps, or enough for the given epochs. */
    public long totalSteps(int batchesPerEpoch) {
        if (maxSteps > 0) return maxSteps;
        return Math.max(1, (long) epochs * batchesPerEpoch / gradAccum);
    }

    /** Warm-up then cosine decay from lr to minLr over {@code steps}. */
    public LrSchedule schedule(long steps) {
        return LrSchedule.warmupCosine(lr, warmupSteps, steps, minLr);
    }

    /** The optimizer named by {@link #optimizer()} over {@code groups}, at the peak rate. */
    public Optimizer optimizer(List<ParamGroup> groups) {
        return optimizer.equals("rmsprop") ? new RmsProp(groups, lr) : new AdamW(groups, lr);
    }

    public TrainingConfig withSteps(long steps, int batch, double peakLr, double endLr, long warmup) {
        return new TrainingConfig(steps, epochs, batch, gradAccum, peakLr, endLr, warmup, weightDecay, clip, optimizer, seed,
                evalEvery, evalBatches, checkpointEvery);
    }

    public TrainingConfig withEvaluation(int every, int batches, int checkpoint) {
        return new TrainingConfig(maxSteps, epochs, batchSize, gradAccum, lr, minLr, warmupSteps, weightDecay, clip, optimizer,
                seed, every, batches, checkpoint);
    }

    public TrainingConfig withSeed(long s) {
        return new TrainingConfig(maxSteps, epochs, batchSize, gradAccum, lr, minLr, warmupSteps, weightDecay, clip, optimizer,
                s, evalEvery, evalBatches, checkpointEvery);
    }

    /** The same settings with the optimizer {@code name} (adamw or rmsprop). */
    public TrainingConfig withOptimizer(String name) {
        return new TrainingConfig(maxSteps, epochs, batchSize, gradAccum, lr, minLr, warmupSteps, weightDecay, clip, name,
                seed, evalEvery, evalBatches, checkpointEvery);
    }

    /** For the report: every setting, in a stable order. */
    public String describe() {
        return describeFixed() + "; " + describeAdjustable();
    }

    /** What a resumed run must keep: changing it would change the steps already taken. */
    public String describeFixed() {
        return "batch " + batchSize + " x " + gradAccum + " accumulated; weight decay " + weightDecay + ", clip " + clip
                + "; optimizer " + optimizer + "; seed " + seed;
    }

    /**
     * What {@code --resume} may change, since it only shapes the steps still to come: the step budget, the
     * learning-rate schedule, and how often the run evaluates and checkpoints.
     */
    public String describeAdjustable() {
        return "steps " + (maxSteps > 0 ? Long.toString(maxSteps) : epochs + " epochs") + "; lr " + lr + " -> " + minLr
                + ", warm-up " + warmupSteps + "; eval every " + evalEvery + " (" + evalBatches + " batches), checkpoint every "
                + checkpointEvery;
    }
}
