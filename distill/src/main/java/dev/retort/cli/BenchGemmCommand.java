package dev.retort.cli;

import dev.retort.distill.bench.Measure;
import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Kernels;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort bench gemm --shape MxKxN [--layout ab|abt] [--threads T] [--dtype f32|bf16]}: the GEMM
 * kernel with warm-up and repetitions; the last line of output is the median GFLOP/s ("123.4 GFLOP/s").
 */
@Command(name = "gemm", mixinStandardHelpOptions = true,
        description = "Measure C = A·B or A·Bᵀ for one shape; prints the median GFLOP/s as the last line.")
final class BenchGemmCommand implements Callable<Integer> {

    @Option(names = "--shape", defaultValue = "256x288x768", description = "MxKxN: A is [M×K], B is [K×N] (default ${DEFAULT-VALUE}).")
    String shape;

    @Option(names = "--layout", defaultValue = "abt", description = "ab (C = A·B) or abt (C = A·Bᵀ, B stored [N×K]) (default ${DEFAULT-VALUE}).")
    String layout;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--dtype", defaultValue = "f32", description = "Type of B: f32 or bf16 (A and C are F32) (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--repetitions", defaultValue = "9", description = "Timed samples; the median is reported (default ${DEFAULT-VALUE}).")
    int repetitions;

    @Override
    public Integer call() {
        int[] mkn = parseShape(shape);
        int m = mkn[0], k = mkn[1], n = mkn[2];
        Gemm.Layout gemmLayout = switch (layout.toLowerCase(Locale.ROOT)) {
            case "ab" -> Gemm.Layout.AB;
            case "abt" -> Gemm.Layout.ABT;
            default -> throw new IllegalArgumentException("--layout must be ab or abt, got '" + layout + "'");
        };
        DType bType = switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("--dtype must be f32 or bf16, got '" + dtype + "'");
        };
        if (threads != null) {
            if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
            ThreadPool.setSharedThreads(threads);
        }
        double seconds = Measure.gemmSecondsPerCall(gemmLayout, m, n, k, bType, 1.0, repetitions);
        double gflops = 2.0 * m * n * k / seconds / 1e9;
        System.out.printf(Locale.ROOT, "gemm %dx%dx%d layout=%s dtype=%s threads=%d kernels=%s: %.3f ms%n",
                m, k, n, layout, dtype, ThreadPool.shared().threads(), Kernels.get().name(), seconds * 1e3);
        System.out.printf(Locale.ROOT, "%.1f GFLOP/s%n", gflops);
        return 0;
    }

    static int[] parseShape(String text) {
        String[] parts = text.toLowerCase(Locale.ROOT).split("x");
        if (parts.length != 3) throw new IllegalArgumentException("--shape must be MxKxN, got '" + text + "'");
        int[] dims = new int[3];
        for (int i = 0; i < 3; i++) {
            try {
                dims[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--shape must be MxKxN with whole numbers, got '" + text + "'");
            }
            if (dims[i] < 1) throw new IllegalArgumentException("--shape dimensions must be positive, got '" + text + "'");
        }
        return dims;
    }
}
