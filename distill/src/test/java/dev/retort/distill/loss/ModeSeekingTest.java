package dev.retort.distill.loss;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The textbook behaviour of the two KL directions, reproduced with the loss's own gradients: a student that can
 * only be single-peaked (logits −(j − μ)²/(2σ²) over tokens j on a line) is fitted by gradient descent to a
 * teacher with two separated modes. Forward KL, which punishes q ≈ 0 where p &gt; 0, spreads the student over
 * both modes (mode-covering); reverse KL, which punishes q &gt; 0 where p ≈ 0, lets it settle on one mode
 * (mode-seeking).
 */
class ModeSeekingTest {
    // the line must be long enough that a near-uniform student is costly: on a short one it is a plateau
    private static final int V = 100;
    private static final double MODE_A = 35, MODE_B = 65, MODE_WIDTH = 3;

    /** Teacher logits: log of a mixture 0.55·bump(35) + 0.45·bump(65), bumps of width 3. */
    private static float[] teacherLogits() {
        float[] y = new float[V];
        for (int j = 0; j < V; j++) {
            double a = Math.exp(-Math.pow(j - MODE_A, 2) / (2 * MODE_WIDTH * MODE_WIDTH));
            double b = Math.exp(-Math.pow(j - MODE_B, 2) / (2 * MODE_WIDTH * MODE_WIDTH));
            y[j] = (float) Math.log(0.55 * a + 0.45 * b + 1e-30);
        }
        return y;
    }

    /** The fitted student: μ, σ and its probabilities. */
    private record Fit(double mu, double sigma, double[] q) {
        /** Student mass within ±4 tokens of a position. */
        double massNear(double center) {
            double m = 0;
            for (int j = 0; j < V; j++) if (Math.abs(j - center) <= 4) m += q[j];
            return m;
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "μ = %.2f, σ = %.2f, mass near %.0f = %.3f, near %.0f = %.3f",
                    mu, sigma, MODE_A, massNear(MODE_A), MODE_B, massNear(MODE_B));
        }
    }

    /** Adam on (μ, log σ) from μ = 45, σ = 4 (nearer the first mode), using the loss's logit gradient and the chain rule by hand. */
    private static Fit fit(Divergence divergence) {
        KdConfig config = new KdConfig(divergence, 1, 1, 0, 0);
        double[] theta = {45, Math.log(4)};   // μ, log σ
        double[] m = new double[2], v = new double[2];
        double lr = 0.1, b1 = 0.9, b2 = 0.999;
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            TeacherSource teacher = DenseTeacher.ofLogits(Tensor.of(arena, teacherLogits(), 1, V), 0);
            Tensor z = Tensor.zeros(arena, dev.retort.tensor.DType.F32, 1, V);
            for (int step = 1; step <= 600; step++) {
                double mu = theta[0], inv2 = Math.exp(-2 * theta[1]);
                for (int j = 0; j < V; j++) z.setFlat(j, (float) (-0.5 * (j - mu) * (j - mu) * inv2));
                double[] grad = new double[2];
                try (Graph g = Graph.withGrad(pool)) {
                    Var logits = g.leaf(z);
                    DistillationLoss.fromLogits(logits, teacher, new int[] {0}, config, 0).loss().backward();
                    for (int j = 0; j < V; j++) {
                        double dz = logits.grad().getFlat(j), d = j - mu;
                        grad[0] += dz * d * inv2;          // ∂z_j/∂μ = (j − μ)/σ²
                        grad[1] += dz * d * d * inv2;      // ∂z_j/∂log σ = (j − μ)²/σ²
                    }
                }
                for (int i = 0; i < 2; i++) {
                    m[i] = b1 * m[i] + (1 - b1) * grad[i];
                    v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
                    theta[i] -= lr * (m[i] / (1 - Math.pow(b1, step))) / (Math.sqrt(v[i] / (1 - Math.pow(b2, step))) + 1e-8);
                }
            }
        }
        double[] q = KdReference.softmax(z(theta), 0, V, 1);
        return new Fit(theta[0], Math.exp(theta[1]), q);
    }

    private static double[] z(double[] theta) {
        double[] z = new double[V];
        for (int j = 0; j < V; j++) z[j] = -0.5 * Math.pow(j - theta[0], 2) * Math.exp(-2 * theta[1]);
        return z;
    }

    @Test
    void forwardKlCoversBothModesAndReverseKlLocksOntoOne() {
        double[] p = KdReference.softmax(KdReference.toDouble(teacherLogits()), 0, V, 1);
        double mean = 0, var = 0;
        for (int j = 0; j < V; j++) mean += j * p[j];
        for (int j = 0; j < V; j++) var += (j - mean) * (j - mean) * p[j];
        Fit fkl = fit(Divergence.FKL);
        Fit rkl = fit(Divergence.RKL);
        String both = String.format(Locale.ROOT, "teacher mean %.2f, std %.2f; FKL %s; RKL %s", mean, Math.sqrt(var), fkl, rkl);
        // FKL: moment matching, so the student sits between the modes, wide enough to cover both
        assertTrue(Math.abs(fkl.mu() - mean) < 1, "FKL should centre on the teacher's mean: " + both);
        assertTrue(Math.abs(fkl.sigma() / Math.sqrt(var) - 1) < 0.05, "FKL should match the teacher's spread: " + both);
        assertTrue(fkl.massNear(MODE_A) > 0.1 && fkl.massNear(MODE_B) > 0.1, "FKL should cover both modes: " + both);
        // RKL: the student settles on the nearer mode with that mode's width and leaves the other one empty
        assertTrue(Math.abs(rkl.mu() - MODE_A) < 0.5, "RKL should lock onto the mode at " + MODE_A + ": " + both);
        assertTrue(Math.abs(rkl.sigma() / MODE_WIDTH - 1) < 0.1, "RKL should take one mode's width: " + both);
        assertTrue(rkl.massNear(MODE_A) > 0.8 && rkl.massNear(MODE_B) < 1e-6, "RKL should put its mass on one mode: " + both);
    }
}
