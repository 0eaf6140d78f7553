package dev.retort.distill.bench;

import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.train.ResourceUse;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

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

    /**
     * GFLOP/s of this process's F32 GEMM on one {@code size}³ product A·Bᵀ (median of five samples after half a
     * second's warm-up), on the shared thread pool: the peak a step's FLOP rate is compared with when the user
     * gives none (a large GEMM runs close to the FMA units' peak).
     */
    public static double gemmGflops(int size) {
        return 2.0 * size * size * size / gemmSecondsPerCall(Gemm.Layout.ABT, size, size, size, DType.F32, 0.5, 5) / 1e9;
    }

    /**
     * Median seconds per call of this process's GEMM C [m x n] = A [m x k] · op(B), B stored [k x n] for A·B or
     * [n x k] for A·Bᵀ in {@code bType}, A and C F32, with random operands in [-1, 1), after {@code warmupSeconds} of
     * calls; on the shared thread pool.
     */
    public static double gemmSecondsPerCall(Gemm.Layout layout, int m, int n, int k, DType bType, double warmupSeconds, int repetitions) {
        try (Arena arena = Arena.ofShared()) { // the pool's threads read and write these
            SplittableRandom random = new SplittableRandom(42);
            Tensor a = randomTensor(arena, DType.F32, random, m, k);
            Tensor b = layout == Gemm.Layout.ABT ? randomTensor(arena, bType, random, n, k) : randomTensor(arena, bType, random, k, n);
            Tensor c = Tensor.zeros(arena, DType.F32, m, n);
            Gemm gemm = Kernels.get().gemm();
            return medianSecondsPerCall(() -> gemm.gemm(layout, m, n, k, 1f, a.segment(), 0, k, b.segment(), 0, b.dim(1), bType,
                    0f, c.segment(), 0, n), warmupSeconds, repetitions, 0.05);
        }
    }

    private static Tensor randomTensor(Arena arena, DType type, SplittableRandom random, int rows, int cols) {
        float[] values = new float[Math.multiplyExact(rows, cols)];
        for (int i = 0; i < values.length; i++) values[i] = (float) (random.nextDouble() * 2 - 1);
        return Tensor.of(arena, type, values, rows, cols);
    }

    /** The process's peak resident set (VmHWM) as "N MB", or "unknown" off Linux. */
    public static String peakResidentMemory() {
        long bytes = ResourceUse.peakRss();
        return bytes < 0 ? "unknown" : String.format(Locale.ROOT, "%.0f MB", bytes / 1024.0 / 1024.0);
    }
}
