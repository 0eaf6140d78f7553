package dev.retort.autograd.ops;

/**
 * The two training schedules of perturbed top-k token pruning ({@link PerturbedTopK}), as pure functions of the
 * 0-based optimizer step.
 *
 * <ul>
 *   <li>σ: {@code sigma} throughout, or decayed linearly to 0 at {@code sigmaDecaySteps} (then 0, where the
 *       forward is the hard top-k used at inference and the scorer stops learning) when that is positive.</li>
 *   <li>Keep ratio: starts at {@code startKeepRatio} (most tokens kept, so the student is not shocked by losing
 *       half its context at step 0) and steps down by {@code keepRatioStep} every {@code stepsPerKeepRatio}
 *       steps until it reaches {@code targetKeepRatio}, where it stays.</li>
 * </ul>
 */
public record PruneSchedule(double sigma, long sigmaDecaySteps, double startKeepRatio, double targetKeepRatio,
                            double keepRatioStep, long stepsPerKeepRatio) {

    /** Where the keep ratio starts by default. */
    public static final double DEFAULT_START_KEEP_RATIO = 0.9;
    /** How much it drops at each stage by default: 0.9, 0.8, 0.7, 0.6, then the target 0.5. */
    public static final double DEFAULT_KEEP_RATIO_STEP = 0.1;

    public PruneSchedule {
        if (!(sigma >= 0) || Double.isInfinite(sigma)) throw new IllegalArgumentException("sigma must be finite and >= 0, got " + sigma);
        if (!(targetKeepRatio > 0 && targetKeepRatio <= startKeepRatio && startKeepRatio <= 1)) {
            throw new IllegalArgumentException("keep ratios must satisfy 0 < target <= start <= 1, got start " + startKeepRatio
                    + ", target " + targetKeepRatio);
        }
        if (!(keepRatioStep > 0)) throw new IllegalArgumentException("keep ratio step must be > 0, got " + keepRatioStep);
        if (stepsPerKeepRatio < 1) throw new IllegalArgumentException("steps per keep ratio must be >= 1, got " + stepsPerKeepRatio);
    }

    /**
     * The defaults for a run of {@code totalSteps}: σ = {@link PerturbedTopK#DEFAULT_SIGMA} without decay, and the
     * keep ratio 0.9 → 0.5 in steps of 0.1, one stage per tenth of the run, so the target holds from 40% of the
     * run on (the scorer trains longest at the ratio used at inference).
     */
    public static PruneSchedule defaults(long totalSteps) {
        return new PruneSchedule(PerturbedTopK.DEFAULT_SIGMA, 0, DEFAULT_START_KEEP_RATIO, PerturbedTopK.DEFAULT_KEEP_RATIO,
                DEFAULT_KEEP_RATIO_STEP, Math.max(1, totalSteps / 10));
    }

    /** A fixed σ and keep ratio (no schedule). */
    public static PruneSchedule constant(double sigma, double keepRatio) {
        return new PruneSchedule(sigma, 0, keepRatio, keepRatio, 1, 1);
    }

    /** The same schedule with σ decayed linearly to 0 at {@code steps}. */
    public PruneSchedule withSigmaDecay(long steps) {
        return new PruneSchedule(sigma, steps, startKeepRatio, targetKeepRatio, keepRatioStep, stepsPerKeepRatio);
    }

    /** σ at {@code step}: sigma · max(0, 1 − step/sigmaDecaySteps), or sigma when there is no decay. */
    public double sigma(long step) {
        if (sigmaDecaySteps <= 0) return sigma;
        return sigma * Math.max(0, 1 - (double) step / sigmaDecaySteps);
    }

    /** The keep ratio at {@code step}: start − ⌊step / stepsPerKeepRatio⌋ · keepRatioStep, not below the target. */
    public double keepRatio(long step) {
        double stages = Math.floor((double) Math.max(0, step) / stepsPerKeepRatio);
        double ratio = startKeepRatio - stages * keepRatioStep;
        // 1e-9: 0.9 − 4·0.1 is 0.49999999999999994, which is the target, not a stage below it
        return ratio <= targetKeepRatio + 1e-9 ? targetKeepRatio : ratio;
    }
}
