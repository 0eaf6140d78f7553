package dev.retort.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.Reductions;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class CheckpointTest {

    @Test
    void checkpointedBlocksGiveBitwiseTheSameGradientsWithLessMemory() {
        SplittableRandom random = new SplittableRandom(3);
        int rows = 32, dim = 64, layers = 6;
        float[] xs = new float[rows * dim], ws = new float[dim * dim];
        for (int i = 0; i < xs.length; i++) xs[i] = (float) random.nextGaussian();
        for (int i = 0; i < ws.length; i++) ws[i] = (float) (random.nextGaussian() / Math.sqrt(dim));

        float[][] plainGrads = null;
        long plainPeak = 0;
        for (boolean checkpointed : new boolean[] {false, true}) {
            try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
                Parameter w = new Parameter("w", Tensor.of(arena, ws, dim, dim), true);
                Function<Var[], Var> block = in -> Activations.silu(MatMul.linear(Activations.silu(MatMul.linear(in[0], w)), w));
                long peak;
                float[] xGrad;
                try (Graph g = Graph.withGrad(pool)) {
                    Var x = g.leaf(Tensor.of(arena, xs, rows, dim));
                    Var h = x;
                    for (int l = 0; l < layers; l++) h = checkpointed ? Checkpoint.apply(g, block, h) : block.apply(new Var[] {h});
                    Reductions.mean(h).backward();
                    peak = pool.peakBytesInUse();
                    xGrad = x.grad().toFloatArray();
                }
                float[][] grads = {xGrad, w.grad().toFloatArray()};
                if (!checkpointed) {
                    plainGrads = grads;
                    plainPeak = peak;
                } else {
                    assertArrayEquals(plainGrads[0], grads[0], "input gradient");
                    assertArrayEquals(plainGrads[1], grads[1], "weight gradient");
                    assertTrue(peak < plainPeak, "checkpointing peak " + peak + " bytes vs " + plainPeak + " without");
                }
            }
        }
    }
}
