package dev.retort.distill.train;

import java.nio.file.Path;

/**
 * Everything that decides a training run besides the models and the data. A resumed run must use the same
 * values (the checkpoint stores them and refuses a mismatch).
 *
 * @param maxSteps        optimizer steps (0 = derive from epochs)
 * @param epochs          passes over the training rows when maxSteps is 0
 * @param batchSize       rows per micro-batch
 * @param gradAccum       micro-batches per optimizer step
 * @param warmupSteps     linear warm-up, then cosine decay to minLr
 * @param clip            global gradient-norm clip (0 = none)
 * @param evalEvery       evaluate on held-out data every N steps (0 = only at the end)
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
        long seed,
        int evalEvery,
        int evalBatches,
        int checkpointEvery,
        Path out,
        boolean progress) {

    public TrainingConfig {
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
        if (gradAccum < 1) throw new IllegalArgumentException("--grad-accum must be at least 1, got " + gradAccum);
        if (!(lr > 0)) throw new IllegalArgumentException("--lr must be positive, got " + lr);
        if (maxSteps < 0 || epochs < 0) throw new IllegalArgumentException("--max-steps and --epochs must be >= 0");
        if (maxSteps == 0 && epochs == 0) throw new IllegalArgumentException("give --max-steps or --epochs");
    }

    /** Steps the run takes: maxSteps, or enough for the given epochs. */
    public long totalSteps(int batchesPerEpoch) {
        if (maxSteps > 0) return maxSteps;
        return Math.max(1, (long) epochs * batchesPerEpoch / gradAccum);
    }
}
