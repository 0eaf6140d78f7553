package dev.retort.distill.experiment;

import java.util.Locale;

/** The summaries experiments print: means over seeds with their sample standard deviation. */
public final class Stats {
    private Stats() {}

    public static double mean(double[] x) {
        double sum = 0;
        for (double v : x) sum += v;
        return sum / x.length;
    }

    /** Sample standard deviation (n - 1); 0 for one value. */
    public static double sd(double[] x) {
        if (x.length < 2) return 0;
        double mean = mean(x), ss = 0;
        for (double v : x) ss += (v - mean) * (v - mean);
        return Math.sqrt(ss / (x.length - 1));
    }

    /** "mean ± sd" to three decimals, or the mean alone for one value. */
    public static String meanSd(double[] x) {
        if (x.length < 2) return String.format(Locale.ROOT, "%.3f", mean(x));
        return String.format(Locale.ROOT, "%.3f ± %.3f", mean(x), sd(x));
    }

    /**
     * Whether {@code candidate} beats {@code baseline} over seeds: holds when its mean is higher by more than the two
     * sample standard deviations together, does not hold when lower by as much, and is inconclusive in between or with
     * fewer than two seeds on either side (one seed has no spread to compare a gap with).
     */
    public static Experiment.Verdict beats(double[] candidate, double[] baseline) {
        if (candidate.length < 2 || baseline.length < 2) return Experiment.Verdict.INCONCLUSIVE;
        double gap = mean(candidate) - mean(baseline), noise = sd(candidate) + sd(baseline);
        return gap > noise ? Experiment.Verdict.HOLDS : gap < -noise ? Experiment.Verdict.DOES_NOT_HOLD : Experiment.Verdict.INCONCLUSIVE;
    }

    /** {@link #beats} where a lower value is better (perplexity, KL): {@code candidate}'s mean is lower by more than the spread. */
    public static Experiment.Verdict beatsLower(double[] candidate, double[] baseline) {
        return beats(java.util.Arrays.stream(candidate).map(v -> -v).toArray(), java.util.Arrays.stream(baseline).map(v -> -v).toArray());
    }
}
