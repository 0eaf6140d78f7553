package dev.retort.bench;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.distill.loss.DenseTeacher;
import dev.retort.distill.loss.DistillationLoss;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
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
 * The per-row arithmetic of the KD loss — row statistics, divergence terms, logit gradient — on one block of
 * 256 rows × V = 32,000 logits with a gradient (DistillationLoss.fromLogits against ready-made teacher logits,
 * so no GEMM is timed), on the scalar kernels (the double-precision arithmetic the loss had before the SIMD KD
 * row kernels) and on the SIMD kernels of this machine's width. Score: seconds per block; ns per logit =
 * score / (256·32000)·1e9.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class KdRowsBenchmark {
    static final int ROWS = 256, VOCAB = 32_000;

    @Param({"scalar", "simd"})
    public String kernels;

    @Param({"fkl", "jsd"})
    public String divergence;

    @Param({"0", "64"})
    public int topK;

    @Param({"1"})
    public int threads;

    private Arena arena;
    private BufferPool pool;
    private Kernels k;
    private Tensor student, teacher;
    private int[] targets;
    private KdConfig config;

    @Setup(Level.Trial)
    public void setUp() {
        ThreadPool.setSharedThreads(threads);
        k = kernels.equals("scalar") ? Kernels.scalar() : Kernels.get();
        arena = Arena.ofShared();
        pool = new BufferPool();
        SplittableRandom r = new SplittableRandom(0);
        float[] z = new float[ROWS * VOCAB], y = new float[ROWS * VOCAB];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) (3 * r.nextGaussian());
            y[i] = (float) (z[i] + r.nextGaussian());
        }
        student = Tensor.of(arena, DType.F32, z, ROWS, VOCAB);
        teacher = Tensor.of(arena, DType.F32, y, ROWS, VOCAB);
        targets = new int[ROWS];
        for (int i = 0; i < ROWS; i++) targets[i] = r.nextInt(VOCAB);
        config = new KdConfig(Divergence.parse(divergence), 2.0, 0.5, 0.5, topK);
    }

    @Benchmark
    public double block() {
        try (Graph g = Graph.of(pool, true, k)) {
            Var logits = g.leaf(student);   // requires a gradient in a gradient graph: the rows write dLoss/dz
            return DistillationLoss.fromLogits(logits, DenseTeacher.ofLogits(teacher, topK), targets, config, 0).kdSum();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }
}
