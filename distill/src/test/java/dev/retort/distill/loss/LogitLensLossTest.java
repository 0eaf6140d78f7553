package dev.retort.distill.loss;

import static dev.retort.distill.loss.KdReference.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.RmsNormLayer;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The logit-lens cross-entropy, read through each model's final RMSNorm and head, against a plain double
 * reference written here: its value (the cross-entropy, teacher entropy included), each row's KL and teacher
 * entropy, and the gradient on the student's raw layer output by central differences of that reference, for
 * chunks of 1, 4 and all rows.
 */
class LogitLensLossTest {
    private static final int IGNORE = CrossEntropy.IGNORE_INDEX;
    // rows N, student width C, teacher width Ct, vocabulary V: the widths differ, as in a narrower student
    private static final int N = 7, C = 5, CT = 6, V = 11;
    private static final int[] TARGETS = {3, IGNORE, 0, 10, IGNORE, 4, 4};   // only "counts or not" may matter
    private static final double T = 1.7, EPS = 1e-5;

    private final SplittableRandom random = new SplittableRandom(13);
    private final double[] h = KdReference.random(random, N * C, 2);          // student layer output, before the norm
    private final double[] gain = KdReference.random(random, C, 1.2);         // student final-norm weight
    private final double[] w = KdReference.random(random, V * C, 1.5);        // student head [V × C]
    private final double[] th = KdReference.random(random, N * CT, 1);        // teacher layer, already normed
    private final double[] tw = KdReference.random(random, V * CT, 1.5);      // teacher head [V × Ct]

    /** z[N × V] = rmsnorm(x)·gain · headᵀ in double (gain null: x is already normed). */
    private static double[] lens(double[] x, double[] gain, double[] head, int width) {
        double[] z = new double[N * V];
        for (int r = 0; r < N; r++) {
            double ms = 0;
            for (int c = 0; c < width; c++) ms += x[r * width + c] * x[r * width + c];
            double inv = gain == null ? 1 : 1 / Math.sqrt(ms / width + EPS);
            for (int v = 0; v < V; v++) {
                double s = 0;
                for (int c = 0; c < width; c++) s += x[r * width + c] * inv * (gain == null ? 1 : gain[c]) * head[v * width + c];
                z[r * V + v] = s;
            }
        }
        return z;
    }

    private static double[] logSoftmax(double[] z, int row) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int v = 0; v < V; v++) max = Math.max(max, z[row * V + v] / T);
        for (int v = 0; v < V; v++) sum += Math.exp(z[row * V + v] / T - max);
        double[] out = new double[V];
        for (int v = 0; v < V; v++) out[v] = z[row * V + v] / T - max - Math.log(sum);
        return out;
    }

    /** [Σ CE, Σ KL, then per row: KL_r, H_r] over counted rows, CE_r = −Σ_j p_j·log q_j. */
    private double[] reference(double[] studentRaw) {
        double[] zs = lens(studentRaw, gain, w, C), zt = lens(th, null, tw, CT);
        double[] out = new double[2 + 2 * N];
        for (int r = 0; r < N; r++) {
            if (TARGETS[r] == IGNORE) continue;
            double[] logP = logSoftmax(zt, r), logQ = logSoftmax(zs, r);
            double ce = 0, kl = 0, entropy = 0;
            for (int v = 0; v < V; v++) {
                double p = Math.exp(logP[v]);
                ce -= p * logQ[v];
                kl += p * (logP[v] - logQ[v]);
                entropy -= p * logP[v];
            }
            out[0] += ce;
            out[1] += kl;
            out[2 + r] = kl;
            out[2 + N + r] = entropy;
        }
        return out;
    }

    private double referenceLoss(double[] studentRaw, double divisor) {
        return T * T * reference(studentRaw)[0] / divisor;
    }

    @ParameterizedTest(name = "chunkRows={0}")
    @ValueSource(ints = {1, 4, N})
    void crossEntropyThroughNormAndHeadMatchesADoubleReferenceAndFiniteDifferences(int chunkRows) {
        double divisor = 9;   // an accumulated batch's token count, say
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            RmsNormLayer norm = new RmsNormLayer("model.norm", Tensor.of(arena, KdReference.toFloat(gain), C), (float) EPS, false);
            Var head = g.constant(Tensor.of(arena, KdReference.toFloat(w), V, C));
            Var raw = g.leaf(Tensor.of(arena, KdReference.toFloat(h), N, C));
            TeacherSource teacher = DenseTeacher.of(Tensor.of(arena, KdReference.toFloat(th), N, CT),
                    Tensor.of(arena, KdReference.toFloat(tw), V, CT), 0);
            LogitLensLoss.Result r = LogitLensLoss.linear(norm.forward(raw), head, teacher, TARGETS, T, divisor, chunkRows);
            r.loss().backward();

            double[] ref = reference(h);
            assertEquals(5, r.countedRows());
            assertClose("loss", referenceLoss(h, divisor), r.loss().item(), 1e-5);
            assertClose("Σ CE", ref[0], r.ceSum(), 1e-5);
            assertClose("Σ KL", ref[1], r.klSum(), 1e-5);
            assertClose("per-row KL", java.util.Arrays.copyOfRange(ref, 2, 2 + N), r.perRow().kd(), 1e-5);
            assertClose("per-row teacher entropy", java.util.Arrays.copyOfRange(ref, 2 + N, 2 + 2 * N), r.perRow().teacherEntropy(), 1e-5);
            // the student side: d loss / d (raw layer output), through the norm and the head
            assertClose("dLoss/dLayer", KdReference.numericGradient(x -> referenceLoss(x, divisor), h),
                    KdReference.toDouble(raw.grad().toFloatArray()), 1e-4);
        }
    }
}
