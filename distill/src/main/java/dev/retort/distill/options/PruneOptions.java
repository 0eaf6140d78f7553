package dev.retort.distill.options;

import dev.retort.autograd.ops.PerturbedTopK;
import dev.retort.autograd.ops.PruneSchedule;
import dev.retort.models.llama.TokenPruning;
import java.util.Locale;

/**
 * Token pruning inside the student ({@link TokenPruning}, issue 14): at layer {@code layer} each row's prompt keeps
 * {@code keepRatio} of its tokens, chosen by a scorer trained end to end through the perturbed top-k
 * ({@code learned}), or by the two baselines ({@code attention}, {@code random}) at the same ratio.
 *
 * @param layer          --prune-layer: 0-based layer before which the prompt is pruned; null = no pruning
 * @param keepRatio      --keep-ratio: the fraction of prompt tokens kept (at inference, and at the schedule's end)
 * @param samples        --prune-samples: perturbed top-k noise samples per row
 * @param sigma          --prune-sigma: perturbed top-k noise scale
 * @param mode           --prune-mode: learned, attention or random
 * @param schedule       --prune-schedule: {@code constant} (keep ratio and σ fixed) or {@code anneal} (the keep
 *                       ratio from 0.9 down to --keep-ratio in steps of 0.1, one stage per tenth of the run, and σ
 *                       decayed to 0 by the end, {@link PruneSchedule})
 * @param lrScale        --prune-lr-scale: the scorer's learning rate as a multiple of the student's (its own optimizer
 *                       group, as LoRA+ gives B its own)
 * @param scoreNorm      --prune-score-norm: {@code none}, or {@code minmax}: each row's competing scores mapped to
 *                       [0, 1] before the noise is added, so σ is a fraction of their range (Cordonnier et al.'s
 *                       {@code zerooneeps}, {@link dev.retort.autograd.ops.ScoreNormalization}); the ranking, so inference, is unchanged
 */
public record PruneOptions(Integer layer, double keepRatio, int samples, double sigma, TokenPruning.Mode mode, String schedule,
                           double lrScale, String scoreNorm) {
    /**
     * The scorer's default learning rate, as a multiple of the student's. At 1 (the student's own rate, 200 steps)
     * the scorer ended near its random initialisation in every run of bench/RESULTS.md's probes; at 10 with
     * min-max normalised scores it moved (cosine to its init about 0.6) and kept better tokens (one-passage probe,
     * keep 0.5, 3 seeds: exact match 0.92 against 0.86 at 1). Without normalisation the same rate made it worse (0.61):
     * the scorer then grows its scale to shrink the noise instead of ranking better.
     */
    public static final double DEFAULT_LR_SCALE = 10;

    public static final PruneOptions DEFAULTS = new PruneOptions(null, PerturbedTopK.DEFAULT_KEEP_RATIO, PerturbedTopK.DEFAULT_SAMPLES,
            PerturbedTopK.DEFAULT_SIGMA, TokenPruning.Mode.LEARNED, "constant", DEFAULT_LR_SCALE, "minmax");

    public PruneOptions {
        if (!schedule.equals("constant") && !schedule.equals("anneal")) {
            throw new IllegalArgumentException("--prune-schedule must be constant or anneal, got '" + schedule + "'");
        }
        if (!(lrScale > 0) || Double.isInfinite(lrScale)) {
            throw new IllegalArgumentException("--prune-lr-scale must be a positive finite number, got " + lrScale);
        }
        if (!scoreNorm.equals("none") && !scoreNorm.equals("minmax")) {
            throw new IllegalArgumentException("--prune-score-norm must be none or minmax, got '" + scoreNorm + "'");
        }
        if (layer != null) new TokenPruning.Settings(layer, keepRatio, samples, sigma, mode, 0);   // validates the rest
    }

    /** From the command line's text. */
    public static PruneOptions parse(Integer layer, double keepRatio, int samples, double sigma, String mode, String schedule,
                                     double lrScale, String scoreNorm) {
        return new PruneOptions(layer, keepRatio, samples, sigma, TokenPruning.Mode.parse(mode.toLowerCase(Locale.ROOT)),
                schedule.toLowerCase(Locale.ROOT), lrScale, scoreNorm.toLowerCase(Locale.ROOT));
    }

    /** At {@code layer} with ratio {@code keepRatio} in {@code mode}, everything else as given (the experiment's arms). */
    public PruneOptions at(int layer, double keepRatio, TokenPruning.Mode mode) {
        return new PruneOptions(layer, keepRatio, samples, sigma, mode, schedule, lrScale, scoreNorm);
    }

    /** With {@code samples} perturbed top-k samples, everything else as given. */
    public PruneOptions withSamples(int samples) {
        return new PruneOptions(layer, keepRatio, samples, sigma, mode, schedule, lrScale, scoreNorm);
    }

    /** Whether each row's scores are min-max normalised before the perturbed top-k (--prune-score-norm minmax). */
    public boolean normalizeScores() { return scoreNorm.equals("minmax"); }

    public boolean enabled() { return layer != null; }

    /** The model's settings, the scorer initialised from {@code seed}. */
    public TokenPruning.Settings settings(long seed) {
        return new TokenPruning.Settings(layer, keepRatio, samples, sigma, mode, seed);
    }

    /** The keep ratio and σ over a run of {@code totalSteps}. */
    public PruneSchedule pruneSchedule(long totalSteps) {
        if (schedule.equals("constant")) return PruneSchedule.constant(sigma, keepRatio);
        double start = Math.max(keepRatio, PruneSchedule.DEFAULT_START_KEEP_RATIO);
        return new PruneSchedule(sigma, Math.max(1, totalSteps), start, keepRatio, PruneSchedule.DEFAULT_KEEP_RATIO_STEP,
                Math.max(1, totalSteps / 10));
    }

    /** For the run's fingerprint. */
    public String describe() {
        if (layer == null) return "none";
        // the two later options are named only where they differ from what runs before them did (1, none), so such a
        // run still resumes when given --prune-lr-scale 1 --prune-score-norm none
        return String.format(Locale.ROOT, "layer=%d keep=%s samples=%d sigma=%s mode=%s schedule=%s", layer, keepRatio, samples, sigma,
                mode.cliName(), schedule) + (lrScale == 1.0 ? "" : " lr-scale=" + lrScale) + (normalizeScores() ? " score-norm=minmax" : "");
    }
}
