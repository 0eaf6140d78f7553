package dev.retort.tensor.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Rough check, not a test (no JMH, best of a timed loop after a warm-up; ThreadMXBean counts the bytes each
 * call allocates, which shows boxed vectors). Run from the repository root after a build:
 * java --add-modules jdk.incubator.vector -cp tensor/target/classes:tensor/target/test-classes
 *     dev.retort.tensor.kernels.KdTermsTiming GJSD 0.5 8 both
 * kdTerms on one 32,000-wide row (s = 0.5), one thread, scalar twin vs SIMD. Args: term beta seconds [scalar|simd|both].
 */
public class KdTermsTiming {
    public static void main(String[] a) {
        KdTerm term = KdTerm.valueOf(a[0]);
        double beta = Double.parseDouble(a[1]), secs = Double.parseDouble(a[2]);
        String which = a.length > 3 ? a[3] : "both";
        int n = 32_000; double s = 0.5;
        SplittableRandom r = new SplittableRandom(0);
        float[] zf = new float[n], yf = new float[n];
        for (int i = 0; i < n; i++) { zf[i] = (float) (3 * r.nextGaussian()); yf[i] = (float) (zf[i] + r.nextGaussian()); }
        Arena arena = Arena.ofShared();
        MemorySegment y0 = arena.allocate(4L * n, 64), y = arena.allocate(4L * n, 64), z = arena.allocate(4L * n, 64);
        MemorySegment.copy(yf, 0, y0, ValueLayout.JAVA_FLOAT, 0, n);
        MemorySegment.copy(zf, 0, z, ValueLayout.JAVA_FLOAT, 0, n);
        double lseP = lse(yf, s), lseQ = lse(zf, s);
        for (String k : which.equals("both") ? new String[] {"scalar", "simd"} : new String[] {which}) {
            Kernels ker = k.equals("scalar") ? Kernels.scalar() : Kernels.get();
            for (boolean writeH : new boolean[] {false, true}) {
                double[] sums = new double[2];
                long deadline = System.nanoTime() + (long) (secs * 0.4e9);
                while (System.nanoTime() < deadline) { MemorySegment.copy(y0, 0, y, 0, 4L * n); ker.elementwise().kdTerms(term, beta, n, s, y, 0, lseP, z, 0, lseQ, writeH, sums); }
                com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
                long a0 = mx.getCurrentThreadAllocatedBytes();
                long t0 = System.nanoTime(), it = 0;
                long end = t0 + (long) (secs * 0.6e9);
                double best = Double.MAX_VALUE;
                while (System.nanoTime() < end) {
                    MemorySegment.copy(y0, 0, y, 0, 4L * n);
                    long t = System.nanoTime();
                    ker.elementwise().kdTerms(term, beta, n, s, y, 0, lseP, z, 0, lseQ, writeH, sums);
                    long dt = System.nanoTime() - t;
                    best = Math.min(best, dt); it++;
                }
                long a1 = mx.getCurrentThreadAllocatedBytes();
                double mean = (System.nanoTime() - t0) / (double) it;
                System.out.printf("%-6s %-5s beta=%s writeH=%-5s best %8.1f us (%.2f ns/elem), mean incl. copy %8.1f us, %d iters, %.0f B allocated/call, D=%.9g H=%.9g%n", k, term, beta, writeH, best / 1e3, best / n, mean / 1e3, it, (a1 - a0) / (double) it, sums[0], sums[1]);
            }
        }
    }
    static double lse(float[] x, double s) { double m = Double.NEGATIVE_INFINITY; for (float v : x) m = Math.max(m, v * s); double t = 0; for (float v : x) t += Math.exp(v * s - m); return m + Math.log(t); }
}
