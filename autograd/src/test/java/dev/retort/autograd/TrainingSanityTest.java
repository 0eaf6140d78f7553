package dev.retort.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.Attention;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.ops.Embedding;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.RmsNorm;
import dev.retort.autograd.ops.Shapes;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.GradientClipping;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A tiny attention model memorises a tiny batch; the whole run is bitwise identical on 1 and 2 threads. */
class TrainingSanityTest {
    private static final int VOCAB = 24, DIM = 32, HEADS = 4, BATCH = 2, SEQ = 12, STEPS = 80;

    @AfterEach
    void restoreThreads() {
        ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
    }

    /** Returns the loss after every step. */
    private static float[] train(int threads) {
        ThreadPool.setSharedThreads(threads);
        SplittableRandom random = new SplittableRandom(11);
        int[] tokens = new int[BATCH * SEQ], targets = new int[BATCH * SEQ];
        for (int i = 0; i < tokens.length; i++) tokens[i] = random.nextInt(VOCAB);
        for (int i = 0; i < tokens.length; i++) targets[i] = (i + 1) % SEQ == 0 ? CrossEntropy.IGNORE_INDEX : tokens[i + 1];

        float[] losses = new float[STEPS];
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            Parameter embed = new Parameter("embed", gaussian(arena, random, 0.5, VOCAB, DIM), true);
            Parameter norm = new Parameter("norm", Tensor.zeros(arena, DType.F32, DIM).fill(1f), true);
            Parameter wq = new Parameter("wq", gaussian(arena, random, 0.2, DIM, DIM), true);
            Parameter wk = new Parameter("wk", gaussian(arena, random, 0.2, DIM, DIM), true);
            Parameter wv = new Parameter("wv", gaussian(arena, random, 0.2, DIM, DIM), true);
            Parameter wo = new Parameter("wo", gaussian(arena, random, 0.2, DIM, DIM), true);
            List<Parameter> params = List.of(embed, norm, wq, wk, wv, wo);
            AdamW optimizer = new AdamW(List.of(ParamGroup.of(params, 0.01)), 3e-2);
            for (int step = 0; step < STEPS; step++) {
                optimizer.zeroGrad();
                try (Graph g = Graph.withGrad(pool)) {
                    Var x = Shapes.reshape(Embedding.lookup(g, embed, tokens, 0, tokens.length), BATCH, SEQ, DIM);
                    Var h = RmsNorm.apply(x, norm, 1e-5f);
                    int headDim = DIM / HEADS;
                    Var attended = Attention.causal(MatMul.linear(h, wq), MatMul.linear(h, wk), MatMul.linear(h, wv), HEADS, HEADS, headDim);
                    Var out = Arithmetic.add(x, MatMul.linear(attended, wo));
                    Var loss = CrossEntropy.linear(out, embed, targets, 0, 7);
                    loss.backward();
                    losses[step] = loss.item();
                }
                GradientClipping.clipGlobalNorm(params, 1.0);
                optimizer.step();
            }
        }
        return losses;
    }

    @Test
    void overfitsATinyBatchAndIsBitwiseIdenticalOnOneAndTwoThreads() {
        float[] one = train(1);
        float[] two = train(2);
        assertTrue(one[STEPS - 1] < one[0] / 10, "loss should fall tenfold in " + STEPS + " steps: " + one[0] + " -> " + one[STEPS - 1]);
        assertArrayEquals(one, two, "losses on 1 and 2 threads");
    }

    private static Tensor gaussian(Arena arena, SplittableRandom random, double std, int rows, int cols) {
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) (random.nextGaussian() * std);
        return Tensor.of(arena, v, rows, cols);
    }
}
