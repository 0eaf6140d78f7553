package dev.retort.distill.loss;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Locale;

/**
 * The textbook picture of the KL directions, made with the loss's own gradients: a student that can only be
 * single-peaked (logits −(j − μ)²/(2σ²) over tokens j on a line) is fitted by gradient descent to a teacher with two
 * separated modes, 0.55·bump(35) + 0.45·bump(65) of width 3 over 100 tokens. Forward KL, which punishes q ≈ 0 where
 * p &gt; 0, spreads the student over both modes (mode-covering); reverse KL, which punishes q &gt; 0 where p ≈ 0,
 * lets it settle on one mode (mode-seeking). The fit starts at μ = 45, σ = 4, nearer the first mode.
 */
public final class BimodalToy {
    /** Tokens on the line: long enough that a near-uniform student is costly (on a short one it is a plateau). */
    public static final int V = 100;
    public static final double MODE_A = 35, MODE_B = 65, MODE_WIDTH = 3;
    private static final int STEPS = 600;

    private BimodalToy() {}

    /** The fitted student: μ, σ and its probabilities over the V tokens. */
    public record Fit(double mu, double sigma, double[] q) {
        /** Student mass within ±4 tokens of a position. */
        public double massNear(double center) {
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

    /** Teacher logits: the log of the two-bump mixture. */
    public static float[] teacherLogits() {
        float[] y = new float[V];
        for (int j = 0; j < V; j++) {
            double a = Math.exp(-Math.pow(j - MODE_A, 2) / (2 * MODE_WIDTH * MODE_WIDTH));
            double b = Math.exp(-Math.pow(j - MODE_B, 2) / (2 * MODE_WIDTH * MODE_WIDTH));
            y[j] = (float) Math.log(0.55 * a + 0.45 * b + 1e-30);
        }
        return y;
    }

    /** The teacher's probabilities. */
    public static double[] teacher() {
        float[] y = teacherLogits();
        double[] z = new double[V];
        for (int j = 0; j < V; j++) z[j] = y[j];
        return softmax(z);
    }

    /**
     * Adam on (μ, log σ), {@link #STEPS} steps at learning rate 0.1, using the logit gradient of
     * {@link DistillationLoss} with {@code config} (its divergence and β; the fit uses T = 1 and pure KD) and the
     * chain rule by hand.
     */
    public static Fit fit(KdConfig config) {
        KdConfig pure = config.withTemperature(1).withAlpha(1);
        double[] theta = {45, Math.log(4)};   // μ, log σ
        double[] m = new double[2], v = new double[2];
        double lr = 0.1, b1 = 0.9, b2 = 0.999;
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            TeacherSource teacher = DenseTeacher.ofLogits(Tensor.of(arena, teacherLogits(), 1, V), 0);
            Tensor z = Tensor.zeros(arena, DType.F32, 1, V);
            for (int step = 1; step <= STEPS; step++) {
                double mu = theta[0], inv2 = Math.exp(-2 * theta[1]);
                for (int j = 0; j < V; j++) z.setFlat(j, (float) (-0.5 * (j - mu) * (j - mu) * inv2));
                double[] grad = new double[2];
                try (Graph g = Graph.withGrad(pool)) {
                    Var logits = g.leaf(z);
                    DistillationLoss.fromLogits(logits, teacher, new int[] {0}, pure, 0).loss().backward();
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
        double[] z = new double[V];
        for (int j = 0; j < V; j++) z[j] = -0.5 * Math.pow(j - theta[0], 2) * Math.exp(-2 * theta[1]);
        return new Fit(theta[0], Math.exp(theta[1]), softmax(z));
    }

    private static double[] softmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (double x : z) max = Math.max(max, x);
        double[] p = new double[z.length];
        for (int j = 0; j < z.length; j++) sum += p[j] = Math.exp(z[j] - max);
        for (int j = 0; j < z.length; j++) p[j] /= sum;
        return p;
    }
}
