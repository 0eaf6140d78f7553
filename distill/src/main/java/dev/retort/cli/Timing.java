package dev.retort.cli;

import java.util.Arrays;

/** Warm-up then repeated timing, reporting the median: robust on a small, noisy machine. */
final class Timing {
    private Timing() {}

    /**
     * Runs {@code work} for at least {@code warmupSeconds}, then {@code repetitions} timed samples, each a batch
     * of calls lasting at least {@code minSampleSeconds}; returns the median seconds per call.
     */
    static double medianSecondsPerCall(Runnable work, double warmupSeconds, int repetitions, double minSampleSeconds) {
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
        Arrays.sort(samples);
        return repetitions % 2 == 1 ? samples[repetitions / 2]
                : 0.5 * (samples[repetitions / 2 - 1] + samples[repetitions / 2]);
    }
}
