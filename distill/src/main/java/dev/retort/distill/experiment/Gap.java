package dev.retort.distill.experiment;

import dev.retort.distill.experiment.Experiment.Verdict;

/**
 * The rule the experiments' findings use to say whether arm A beats arm B: the claim holds when A's mean over seeds
 * is better than B's by more than the two sample standard deviations together, does not hold when it is worse by as
 * much, and is inconclusive in between. (With one seed there is no spread, and any gap decides.)
 */
public final class Gap {
    private Gap() {}

    /** Whether {@code a} beats {@code b} where a higher value is better (agreement, accuracy). */
    public static Verdict higher(double[] a, double[] b) {
        double gap = Stats.mean(a) - Stats.mean(b), noise = Stats.sd(a) + Stats.sd(b);
        return gap > noise ? Verdict.HOLDS : gap < -noise ? Verdict.DOES_NOT_HOLD : Verdict.INCONCLUSIVE;
    }

    /** Whether {@code a} beats {@code b} where a lower value is better (perplexity, KL). */
    public static Verdict lower(double[] a, double[] b) {
        return higher(negate(a), negate(b));
    }

    private static double[] negate(double[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = -x[i];
        return y;
    }
}
