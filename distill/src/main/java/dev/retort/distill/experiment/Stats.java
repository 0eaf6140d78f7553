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
     * Whether "{@code a} beats {@code b}" holds over seeds: the gap of the means exceeds the two spreads (sd + sd),
     * does not hold when it is below minus that, else inconclusive.
     */
    public static Experiment.Verdict beats(double[] a, double[] b) {
        double gap = mean(a) - mean(b), noise = sd(a) + sd(b);
        return gap > noise ? Experiment.Verdict.HOLDS : gap < -noise ? Experiment.Verdict.DOES_NOT_HOLD : Experiment.Verdict.INCONCLUSIVE;
    }
}
