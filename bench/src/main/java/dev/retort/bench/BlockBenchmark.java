package dev.retort.bench;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.Reductions;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Gemm.Layout;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.util.List;
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
 * The autograd engine on one Llama block (dim 288, 6 heads, hidden 768, T = 256, B = 8): forward + backward
 * through the engine, against the same 21 GEMMs alone (7 forward, 14 backward), so the ratio shows how much of
 * the block is GEMM; and the engine's fixed cost per op on a tiny tensor.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC"})
@State(Scope.Benchmark)
public class BlockBenchmark {
    private static final int DIM = 288, HEADS = 6, HIDDEN = 768, SEQ = 256, BATCH = 8;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private BufferPool pool;
    private TransformerBlock block;
    private Tensor x, tiny;
    private Tensor act, actGrad, hiddenAct, hiddenGrad, wGrad, wHiddenGrad;

    @Setup(Level.Trial)
    public void setUp() {
        ThreadPool.setSharedThreads(threads);
        arena = Arena.ofShared();
        pool = new BufferPool();
        block = new TransformerBlock(arena, DIM, HEADS, HIDDEN, SEQ, BATCH, 1);
        x = TransformerBlock.random(arena, new SplittableRandom(2), BATCH * SEQ, DIM);
        tiny = Tensor.zeros(arena, DType.F32, 8).fill(0.5f);
        int rows = BATCH * SEQ;
        act = Tensor.zeros(arena, DType.F32, rows, DIM);
        actGrad = Tensor.zeros(arena, DType.F32, rows, DIM);
        hiddenAct = Tensor.zeros(arena, DType.F32, rows, HIDDEN);
        hiddenGrad = Tensor.zeros(arena, DType.F32, rows, HIDDEN);
        wGrad = Tensor.zeros(arena, DType.F32, DIM, DIM);
        wHiddenGrad = Tensor.zeros(arena, DType.F32, HIDDEN, DIM);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    /** Forward and backward of the block through the engine (loss = mean of the output). */
    @Benchmark
    public float blockForwardBackward() {
        float loss;
        try (Graph g = Graph.withGrad(pool)) {
            Var out = Reductions.mean(block.forward(block.input(g, x)));
            out.backward();
            loss = out.item();
        }
        for (Parameter p : List.of(block.wq, block.wk, block.wv, block.wo, block.wGate, block.wUp, block.wDown,
                block.attnNorm, block.mlpNorm)) p.zeroGrad();
        return loss;
    }

    /** The block's 21 GEMMs alone, same shapes and layouts as the engine runs them. */
    @Benchmark
    public Tensor blockGemmsOnly() {
        Gemm gemm = Kernels.get().gemm();
        int rows = BATCH * SEQ;
        Tensor w = block.wq.value(), wh = block.wGate.value(), wd = block.wDown.value();
        for (int i = 0; i < 4; i++) {   // q, k, v, o: forward, dX, dW
            linear(gemm, rows, DIM, DIM, act, w, actGrad, wGrad);
        }
        for (int i = 0; i < 2; i++) {   // gate, up
            linear(gemm, rows, DIM, HIDDEN, act, wh, hiddenAct, wHiddenGrad);
        }
        // down: [rows × hidden] · [dim × hidden]ᵀ
        gemm.gemm(Layout.ABT, rows, DIM, HIDDEN, 1f, hiddenAct.segment(), 0, HIDDEN, wd.segment(), 0, HIDDEN, DType.F32, 0f, actGrad.segment(), 0, DIM);
        gemm.gemm(Layout.AB, rows, HIDDEN, DIM, 1f, actGrad.segment(), 0, DIM, wd.segment(), 0, HIDDEN, DType.F32, 1f, hiddenGrad.segment(), 0, HIDDEN);
        gemm.gemm(Layout.ATB, DIM, HIDDEN, rows, 1f, actGrad.segment(), 0, DIM, hiddenAct.segment(), 0, HIDDEN, DType.F32, 1f, wHiddenGrad.segment(), 0, HIDDEN);
        return actGrad;
    }

    private static void linear(Gemm gemm, int rows, int in, int out, Tensor x, Tensor w, Tensor y, Tensor dw) {
        gemm.gemm(Layout.ABT, rows, out, in, 1f, x.segment(), 0, in, w.segment(), 0, in, DType.F32, 0f, y.segment(), 0, out);
        gemm.gemm(Layout.AB, rows, in, out, 1f, y.segment(), 0, out, w.segment(), 0, in, DType.F32, 1f, x.segment(), 0, in);
        gemm.gemm(Layout.ATB, out, in, rows, 1f, y.segment(), 0, out, x.segment(), 0, in, DType.F32, 1f, dw.segment(), 0, in);
    }

    /** The engine's fixed cost: silu and sum of 8 elements, forward and backward. */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public float tinyOpOverhead() {
        try (Graph g = Graph.withGrad(pool)) {
            Var loss = Reductions.sum(Activations.silu(g.leaf(tiny)));
            loss.backward();
            return loss.item();
        }
    }
}
