package dev.retort.bench;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * GEMM throughput of the kernels this JVM selects ({@link Kernels#get()}), for the shapes of a Llama-style
 * layer, in the layouts of the forward (A·Bᵀ, weights [out x in]) and backward (A·B) passes. Scores are
 * operations per second; {@code bench/jmh} multiplies them by 2·M·K·N to print GFLOP/s (shape is MxKxN, as in
 * the OpenBLAS baseline script).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GemmBenchmark {
    @Param({"256x288x768", "64x768x2048", "512x512x512", "2048x2048x2048"})
    public String shape;

    @Param({"ab", "abt"})
    public String layout;

    @Param({"f32", "bf16"})
    public String dtype;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private Gemm gemm;
    private Gemm.Layout gemmLayout;
    private DType bType;
    private int m, k, n;
    private MemorySegment a, b, c;

    @Setup(Level.Trial)
    public void setUp() {
        String[] dims = shape.split("x");
        m = Integer.parseInt(dims[0]);
        k = Integer.parseInt(dims[1]);
        n = Integer.parseInt(dims[2]);
        gemmLayout = layout.equals("ab") ? Gemm.Layout.AB : Gemm.Layout.ABT;
        bType = dtype.equals("f32") ? DType.F32 : DType.BF16;
        ThreadPool.setSharedThreads(threads);
        gemm = Kernels.get().gemm();
        arena = Arena.ofShared();
        Random rnd = new Random(0);
        a = randomMatrix(arena, rnd, (long) m * k, DType.F32);
        b = randomMatrix(arena, rnd, (long) k * n, bType); // [k x n] for AB, [n x k] for ABT
        c = arena.allocate((long) m * n * 4, 64);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
        ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
    }

    @Benchmark
    public MemorySegment gemm() {
        int ldb = gemmLayout == Gemm.Layout.AB ? n : k;
        gemm.gemm(gemmLayout, m, n, k, 1f, a, 0, k, b, 0, ldb, bType, 0f, c, 0, n);
        return c;
    }

    /**
     * Single-thread GFLOP/s measured in thread CPU time rather than wall time, for a machine shared with other
     * work: time the scheduler gives to other processes is not counted (their cache and memory traffic still
     * is). Run: java --add-modules jdk.incubator.vector -cp 'bench/target/retort-bench.jar:bench/target/lib/*'
     * dev.retort.bench.GemmBenchmark [seconds per case]
     */
    public static void main(String[] args) {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        System.out.printf("%-16s %-6s %-6s %12s%n", "shape (MxKxN)", "layout", "B", "GFLOP/s (cpu)");
        for (String dt : new String[] {"f32", "bf16"}) {
            for (String lay : new String[] {"ab", "abt"}) {
                for (String sh : new String[] {"256x288x768", "64x768x2048", "512x512x512", "2048x2048x2048"}) {
                    GemmBenchmark bench = new GemmBenchmark();
                    bench.shape = sh;
                    bench.layout = lay;
                    bench.dtype = dt;
                    bench.threads = 1;
                    bench.setUp();
                    double flops = 2.0 * bench.m * bench.n * bench.k, best = 0;
                    for (int rep = 0; rep < 5; rep++) { // the first rounds warm up the JIT; keep the best of the rest
                        long start = cpu.getCurrentThreadCpuTime(), calls = 0;
                        while (cpu.getCurrentThreadCpuTime() - start < seconds * 0.4e9) {
                            bench.gemm();
                            calls++;
                        }
                        double rate = flops * calls / ((cpu.getCurrentThreadCpuTime() - start) * 1e-9) / 1e9;
                        if (rep >= 2) best = Math.max(best, rate);
                    }
                    bench.tearDown();
                    System.out.printf("%-16s %-6s %-6s %12.1f%n", sh, lay, dt, best);
                }
            }
        }
    }

    static MemorySegment randomMatrix(Arena arena, Random rnd, long count, DType dtype) {
        MemorySegment s = arena.allocate(dtype.byteSize(count), 64);
        if (dtype == DType.Q8_0) {   // blocks of an F16 scale near 1/127 and 32 int8 values
            for (long b = 0; b < count / Q8Block.BLOCK; b++) {
                long at = b * Q8Block.BYTES;
                s.set(ValueLayout.JAVA_SHORT_UNALIGNED, at, Half.floatToF16((0.5f + rnd.nextFloat()) / 127));
                for (int j = 0; j < Q8Block.BLOCK; j++) s.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (rnd.nextInt(255) - 127));
            }
            return s;
        }
        for (long i = 0; i < count; i++) {
            float v = rnd.nextFloat() * 2 - 1;
            if (dtype == DType.F32) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
            else s.setAtIndex(ValueLayout.JAVA_SHORT, i, Half.fromFloat(dtype, v));
        }
        return s;
    }

    /**
     * Decode-path matvec y = W·x with W [4096 x 4096] in F32, BF16 or Q8_0, next to a plain streaming read of a buffer
     * the size of the F32 weight (the machine's bandwidth, measured in the same run): {@code bench/jmh} turns
     * both into GB/s of weight bytes read.
     */
    @State(Scope.Benchmark)
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 3, time = 1)
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
    public static class Matvec {
        static final int ROWS = 4096, COLS = 4096;
        private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

        @Param({"f32", "bf16", "q8_0"})
        public String dtype;

        @Param({"1", "2"})
        public int threads;

        private Arena arena;
        private Gemm gemm;
        private DType wType;
        private MemorySegment w, x, y, stream;
        private float[] partials;

        @Setup(Level.Trial)
        public void setUp() {
            ThreadPool.setSharedThreads(threads);
            gemm = Kernels.get().gemm();
            wType = DType.valueOf(dtype.toUpperCase(java.util.Locale.ROOT));
            arena = Arena.ofShared();
            Random rnd = new Random(0);
            w = randomMatrix(arena, rnd, (long) ROWS * COLS, wType);
            x = randomMatrix(arena, rnd, COLS, DType.F32);
            y = arena.allocate(ROWS * 4L, 64);
            stream = randomMatrix(arena, rnd, (long) ROWS * COLS, DType.F32);
            partials = new float[64];
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }

        @Benchmark
        public MemorySegment matvec() {
            gemm.matvec(ROWS, COLS, w, 0, COLS, wType, x, 0, y, 0);
            return y;
        }

        /** Reads all 64 MiB once (vector loads, four independent sums), split over the same thread pool. */
        @Benchmark
        public float streamingSum() {
            long chunk = (long) ROWS * COLS / partials.length;
            ThreadPool.shared().parallelFor(partials.length, t -> {
                FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
                int step = F.length() * 4, chunkBytes = (int) (chunk * 4);
                MemorySegment part = stream.asSlice(t * chunk * 4, chunkBytes);
                for (int at = 0; at < chunkBytes; at += 4 * step) { // an int loop: the JIT's best-optimised kind
                    s0 = s0.add(FloatVector.fromMemorySegment(F, part, at, ByteOrder.LITTLE_ENDIAN));
                    s1 = s1.add(FloatVector.fromMemorySegment(F, part, at + step, ByteOrder.LITTLE_ENDIAN));
                    s2 = s2.add(FloatVector.fromMemorySegment(F, part, at + 2 * step, ByteOrder.LITTLE_ENDIAN));
                    s3 = s3.add(FloatVector.fromMemorySegment(F, part, at + 3 * step, ByteOrder.LITTLE_ENDIAN));
                }
                partials[t] = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
            });
            float sum = 0;
            for (float p : partials) sum += p;
            return sum;
        }
    }
}
