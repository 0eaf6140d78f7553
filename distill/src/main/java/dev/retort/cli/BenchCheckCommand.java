package dev.retort.cli;

import dev.retort.distill.bench.Measure;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Kernels;
import dev.retort.tensor.kernels.VectorSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/**
 * {@code retort bench check}: a quick check of this machine: the SIMD kernels this JVM selected against the
 * plain-Java kernels on the shapes of a small Llama layer (stories15M: dim 288, 6 heads, hidden 768, T=256),
 * the largest disagreement of each, and the layer's GEMM speed on 1 and all threads.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Check the SIMD kernels against the scalar kernels on this machine, and measure GEMM speed.")
final class BenchCheckCommand implements Callable<Integer> {
    private static final int T = 256, DIM = 288, HEADS = 6, HIDDEN = 768;

    @Override
    public Integer call() {
        Kernels simd = Kernels.get();
        Kernels scalar = Kernels.scalar();
        VectorSupport.Report report = VectorSupport.inspect();
        System.out.printf(Locale.ROOT, "kernels: %s (preferred %d-bit vectors, CPU %d-bit), %d threads%n",
                simd.name(), report.preferredBits(), report.hardwareBits(), ThreadPool.shared().threads());

        boolean ok = true;
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom random = new SplittableRandom(7);
            // One transformer layer's work, run by both implementations.
            Tensor x = random(arena, random, T, DIM);
            Tensor wq = random(arena, random, DIM, DIM);
            Tensor wUpBf16 = Tensor.of(arena, DType.BF16, random(arena, random, HIDDEN, DIM).toFloatArray(), HIDDEN, DIM);
            Tensor normWeight = random(arena, random, 1, DIM);

            System.out.println();
            System.out.println("check                                   max |simd - scalar| / max |scalar|");
            ok &= report("q = x·Wqᵀ          (GEMM A·Bᵀ, F32)", x, k -> {
                Tensor out = Tensor.zeros(arena, DType.F32, T, DIM);
                k.gemm().gemm(Gemm.Layout.ABT, T, DIM, DIM, 1f, x.segment(), 0, DIM, wq.segment(), 0, DIM, DType.F32, 0f, out.segment(), 0, DIM);
                return out;
            }, simd, scalar);
            ok &= report("up = x·Wupᵀ        (GEMM A·Bᵀ, BF16 weights)", x, k -> {
                Tensor out = Tensor.zeros(arena, DType.F32, T, HIDDEN);
                k.gemm().gemm(Gemm.Layout.ABT, T, HIDDEN, DIM, 1f, x.segment(), 0, DIM, wUpBf16.segment(), 0, DIM, DType.BF16, 0f, out.segment(), 0, HIDDEN);
                return out;
            }, simd, scalar);
            ok &= report("dW = dyᵀ·x         (GEMM Aᵀ·B)", x, k -> {
                Tensor out = Tensor.zeros(arena, DType.F32, DIM, DIM);
                k.gemm().gemm(Gemm.Layout.ATB, DIM, DIM, T, 1f, x.segment(), 0, DIM, x.segment(), 0, DIM, DType.F32, 0f, out.segment(), 0, DIM);
                return out;
            }, simd, scalar);
            ok &= report("rmsnorm(x)", x, k -> {
                Tensor out = Tensor.zeros(arena, DType.F32, T, DIM);
                k.elementwise().rmsNorm(T, DIM, 1e-5f, x.segment(), 0, normWeight.segment(), 0, out.segment(), 0, null, 0);
                return out;
            }, simd, scalar);
            ok &= report("softmax(x)", x, k -> {
                Tensor out = Tensor.zeros(arena, DType.F32, T, DIM);
                k.elementwise().softmax(T, DIM, x.segment(), 0, out.segment(), 0);
                return out;
            }, simd, scalar);
            ok &= report("causal attention (6 heads, T=256)", x, k -> {
                Tensor out = Tensor.zeros(arena, DType.F32, T, DIM);
                MemorySegment s = x.segment();
                k.attention().forward(1, T, 0, HEADS, HEADS, DIM / HEADS, (float) (1 / Math.sqrt(DIM / HEADS)),
                        s, 0, s, 0, s, 0, (long) T * DIM, out.segment(), 0, null, 0);
                return out;
            }, simd, scalar);

            System.out.println();
            System.out.println("GEMM speed, x·Wupᵀ [256×288]·[288×768]ᵀ:");
            for (int threads : new int[] {1, ThreadPool.defaultThreads()}) {
                ThreadPool.setSharedThreads(threads);
                Tensor out = Tensor.zeros(arena, DType.F32, T, HIDDEN);
                Tensor wUp = Tensor.of(arena, wUpBf16.toFloatArray(), HIDDEN, DIM);
                double seconds = Measure.medianSecondsPerCall(() -> simd.gemm().gemm(Gemm.Layout.ABT, T, HIDDEN, DIM, 1f,
                        x.segment(), 0, DIM, wUp.segment(), 0, DIM, DType.F32, 0f, out.segment(), 0, HIDDEN), 0.5, 7, 0.05);
                System.out.printf(Locale.ROOT, "  %d thread%s: %.1f GFLOP/s%n", threads, threads == 1 ? " " : "s",
                        2.0 * T * HIDDEN * DIM / seconds / 1e9);
                if (threads == ThreadPool.defaultThreads()) break;
            }
        }
        System.out.println();
        System.out.println(ok ? "check: all kernels agree with the scalar reference" : "check: KERNEL MISMATCH (see above)");
        return ok ? 0 : 1;
    }

    private interface Run {
        Tensor apply(Kernels kernels);
    }

    private static boolean report(String name, Tensor input, Run run, Kernels simd, Kernels scalar) {
        float[] expected = run.apply(scalar).toFloatArray();
        float[] actual = run.apply(simd).toFloatArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        double relative = maxDiff / Math.max(maxRef, 1e-30);
        boolean pass = relative < 1e-4 && Double.isFinite(relative);
        System.out.printf(Locale.ROOT, "  %-40s %.2e  %s%n", name, relative, pass ? "ok" : "MISMATCH");
        return pass;
    }

    private static Tensor random(Arena arena, SplittableRandom random, int rows, int cols) {
        float[] values = new float[rows * cols];
        for (int i = 0; i < values.length; i++) values[i] = (float) (random.nextDouble() * 2 - 1);
        return Tensor.of(arena, values, rows, cols);
    }
}
