package dev.retort.distill.bench;

import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.train.ResourceUse;
import java.util.Arrays;
import java.util.Locale;

/**
 * How every Retort benchmark measures: warm-up, then the median of repeated timings (robust on a small, noisy
 * machine), and the process's peak resident memory.
 */
public final class Measure {
    private Measure() {}

    /**
     * Runs {@code work} for at least {@code warmupSeconds}, then {@code repetitions} timed samples, each a batch
     * of calls lasting at least {@code minSampleSeconds}; returns the median seconds per call. For short calls
     * (a GEMM).
     */
    public static double medianSecondsPerCall(Runnable work, double warmupSeconds, int repetitions, double minSampleSeconds) {
        long warmupEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
        int callsPerSample = 1;
        do {
            long t0 = System.nanoTime();
            work.run();
            double seconds = (System.nanoTime() - t0) / 1e9;
            callsPerSample = (int) Math.max(1, Math.min(1_000_000, Math.ceil(minSampleSeconds / Math.max(seconds, 1e-9))));
        } while (System.nanoTime() < warmupEnd);

        double[] samples = new double[repetitions];
        for (int r = 0; r < repetitions; r++) {
            long t0 = System.nanoTime();
            for (int c = 0; c < callsPerSample; c++) work.run();
            samples[r] = (System.nanoTime() - t0) / 1e9 / callsPerSample;
        }
        return median(samples);
    }

    /** Two warm-up calls, then the median of {@code steps} timed ones. For long calls (a training step). */
    public static double medianStepSeconds(Runnable step, int steps) {
        return timedSteps(step, steps).medianSeconds();
    }

    /** The median seconds of the timed steps, and what the timed steps together cost (warm-up excluded). */
    public record Steps(double medianSeconds, int timed, ResourceUse resources) {}

    /**
     * Two warm-up calls, then {@code steps} timed ones: their median, and their wall, CPU, peak RSS and energy
     * ({@link ResourceUse}, the energy estimated at {@link OutputOptions#DEFAULT_CORE_WATTS} where RAPL is not readable).
     */
    public static Steps timedSteps(Runnable step, int steps) {
        if (steps < 1) throw new IllegalArgumentException("--steps must be at least 1, got " + steps);
        step.run();
        step.run();
        double[] times = new double[steps];
        ResourceUse.Meter meter = ResourceUse.start(OutputOptions.DEFAULT_CORE_WATTS);
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            step.run();
            times[i] = (System.nanoTime() - t0) / 1e9;
        }
        ResourceUse used = meter.stop();
        return new Steps(median(times), steps, used);
    }

    /** The median of {@code samples} (sorted in place). */
    public static double median(double[] samples) {
        Arrays.sort(samples);
        int n = samples.length;
        return n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
    }

    /** The process's peak resident set (VmHWM) as "N MB", or "unknown" off Linux. */
    public static String peakResidentMemory() {
        long bytes = ResourceUse.peakRss();
        return bytes < 0 ? "unknown" : String.format(Locale.ROOT, "%.0f MB", bytes / 1024.0 / 1024.0);
    }
}
