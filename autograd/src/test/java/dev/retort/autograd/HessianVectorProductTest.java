package dev.retort.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * H·v of the cross-entropy of a linear classifier, L(W) = mean_r CE(W·x_r, t_r), whose Hessian is known in
 * closed form: for logits z = W·x and p = softmax(z), ∂²L/∂W² = mean_r (diag(p) − p·pᵀ) ⊗ x·xᵀ, so
 * (H·V)[a,c] = mean_r (p_a·d_a − p_a·Σ_b p_b·d_b)·x_r[c] with d = V·x_r.
 */
class HessianVectorProductTest {
    private static final int ROWS = 6, C = 4, VOCAB = 5;

    @Test
    void centralDifferenceMatchesTheExactHessianOfSoftmaxRegression() {
        SplittableRandom random = new SplittableRandom(5);
        float[] x = randoms(random, ROWS * C), w = randoms(random, VOCAB * C), v = randoms(random, VOCAB * C);
        int[] targets = {0, 4, 2, 2, 1, 3};

        double[] exact = new double[VOCAB * C];
        for (int r = 0; r < ROWS; r++) {
            double[] z = new double[VOCAB], d = new double[VOCAB];
            for (int a = 0; a < VOCAB; a++) {
                for (int c = 0; c < C; c++) {
                    z[a] += w[a * C + c] * x[r * C + c];
                    d[a] += v[a * C + c] * x[r * C + c];
                }
            }
            double max = java.util.Arrays.stream(z).max().orElseThrow(), sum = 0;
            double[] p = new double[VOCAB];
            for (int a = 0; a < VOCAB; a++) sum += p[a] = Math.exp(z[a] - max);
            double pd = 0;
            for (int a = 0; a < VOCAB; a++) pd += (p[a] /= sum) * d[a];
            for (int a = 0; a < VOCAB; a++) {
                for (int c = 0; c < C; c++) exact[a * C + c] += (p[a] * d[a] - p[a] * pd) * x[r * C + c] / ROWS;
            }
        }

        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            Parameter weight = new Parameter("head.weight", Tensor.of(arena, w, VOCAB, C), true);
            Tensor inputs = Tensor.of(arena, x, ROWS, C);
            List<float[]> hv = HessianVectorProduct.centralDifference(List.of(weight), List.of(v), 1e-2, () -> {
                try (Graph g = Graph.withGrad(pool)) {
                    CrossEntropy.linear(g.constant(inputs), weight, targets, 0, ROWS).backward();
                }
            });
            double scale = java.util.Arrays.stream(exact).map(Math::abs).max().orElseThrow();
            for (int i = 0; i < exact.length; i++) {
                assertEquals(exact[i], hv.get(0)[i], 2e-3 * scale, "H·v element " + i);
            }
            assertArrayEquals(w, weight.value().toFloatArray(), "parameters restored bit for bit");
        }
    }

    @Test
    void aZeroVectorGivesZero() {
        try (Arena arena = Arena.ofShared()) {
            Parameter p = new Parameter("p", Tensor.of(arena, new float[] {1, 2}, 2), true);
            List<float[]> hv = HessianVectorProduct.centralDifference(List.of(p), List.of(new float[2]), 1e-2,
                    () -> { throw new AssertionError("no gradient needed for v = 0"); });
            assertArrayEquals(new float[2], hv.get(0));
        }
    }

    private static float[] randoms(SplittableRandom random, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) f[i] = (float) (random.nextDouble() * 2 - 1);
        return f;
    }
}
