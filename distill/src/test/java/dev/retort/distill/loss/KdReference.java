package dev.retort.distill.loss;

import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.autograd.ops.CrossEntropy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;

/**
 * The distillation objective written out directly in double precision, straight from the definitions
 * (probabilities, not log-space tricks), and central finite differences of it. Independent of the code under
 * test: it shares only the definitions.
 */
final class KdReference {
    private KdReference() {}

    /** Row softmax of x/T, in double. */
    static double[] softmax(double[] x, int from, int vocab, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < vocab; j++) max = Math.max(max, x[from + j]);
        double[] e = new double[vocab];
        double sum = 0;
        for (int j = 0; j < vocab; j++) sum += e[j] = Math.exp((x[from + j] - max) / t);
        for (int j = 0; j < vocab; j++) e[j] /= sum;
        return e;
    }

    /** The teacher's top-k ids of a row by decreasing logit (ties: lower id), as the truncation defines them. */
    static int[] topIds(double[] y, int from, int vocab, int k) {
        return IntStream.range(0, vocab).boxed()
                .sorted(Comparator.<Integer>comparingDouble(j -> -y[from + j]).thenComparingInt(j -> j))
                .limit(k).mapToInt(Integer::intValue).toArray();
    }

    /** Buckets of a distribution: the given ids one by one, then the rest summed (no rest if ids == null). */
    static double[] buckets(double[] prob, int[] ids) {
        if (ids == null) return prob.clone();
        double[] b = new double[ids.length + 1];
        boolean[] taken = new boolean[prob.length];
        for (int i = 0; i < ids.length; i++) {
            b[i] = prob[ids[i]];
            taken[ids[i]] = true;
        }
        for (int j = 0; j < prob.length; j++) if (!taken[j]) b[ids.length] += prob[j];
        return b;
    }

    /** D(p ‖ q) from its definition. */
    static double divergence(Divergence d, double[] p, double[] q, double beta) {
        double sum = 0;
        for (int b = 0; b < p.length; b++) {
            double pb = p[b], qb = q[b];
            sum += switch (d) {
                case FKL -> xlogy(pb, pb / qb);
                case RKL -> xlogy(qb, qb / pb);
                case JSD -> {
                    double m = beta * pb + (1 - beta) * qb;
                    yield beta * xlogy(pb, pb / m) + (1 - beta) * xlogy(qb, qb / m);
                }
                case SKL -> xlogy(pb, pb / (beta * pb + (1 - beta) * qb));
                case SRKL -> xlogy(qb, qb / (beta * qb + (1 - beta) * pb));
                case TVD -> 0.5 * Math.abs(pb - qb);
                case GJSD -> {   // GKD's JSD(β) / (β(1−β)); its limits, FKL and RKL, at the ends
                    if (beta == 0) yield xlogy(pb, pb / qb);
                    if (beta == 1) yield xlogy(qb, qb / pb);
                    double m = beta * pb + (1 - beta) * qb;
                    yield (beta * xlogy(pb, pb / m) + (1 - beta) * xlogy(qb, qb / m)) / (beta * (1 - beta));
                }
            };
        }
        return sum;
    }

    private static double xlogy(double x, double y) {
        return x == 0 ? 0 : x * Math.log(y);
    }

    /** Per-row parts: [CE, D] of one row, or null for a masked row. */
    static double[] rowParts(double[] z, double[] y, int row, int vocab, int target, KdConfig c) {
        if (target == CrossEntropy.IGNORE_INDEX) return null;
        int from = row * vocab;
        double ce = -Math.log(softmax(z, from, vocab, 1)[target]);
        int[] ids = c.topK() == 0 ? null : topIds(y, from, vocab, c.topK());
        double[] p = buckets(softmax(y, from, vocab, c.temperature()), ids);
        double[] q = buckets(softmax(z, from, vocab, c.temperature()), ids);
        return new double[] {ce, divergence(c.divergence(), p, q, c.beta())};
    }

    /** Σ CE and Σ D over counted rows. */
    static double[] sums(double[] z, double[] y, int[] targets, int vocab, KdConfig c) {
        double ce = 0, kd = 0;
        for (int r = 0; r < targets.length; r++) {
            double[] parts = rowParts(z, y, r, vocab, targets[r], c);
            if (parts == null) continue;
            ce += parts[0];
            kd += parts[1];
        }
        return new double[] {ce, kd};
    }

    /** The loss: ((1 − α)·Σ CE + α·T²·Σ D) / divisor, divisor 0 = counted rows. */
    static double loss(double[] z, double[] y, int[] targets, int vocab, KdConfig c, double divisor) {
        double[] s = sums(z, y, targets, vocab, c);
        long counted = Arrays.stream(targets).filter(t -> t != CrossEntropy.IGNORE_INDEX).count();
        double div = divisor > 0 ? divisor : Math.max(1, counted);
        double t = c.temperature();
        return ((1 - c.alpha()) * s[0] + c.alpha() * t * t * s[1]) / div;
    }

    /** logits [rows × V] = h [rows × C] · Wᵀ (W [V × C]). */
    static double[] logits(double[] h, double[] w, int rows, int c, int vocab) {
        double[] z = new double[rows * vocab];
        for (int r = 0; r < rows; r++) {
            for (int v = 0; v < vocab; v++) {
                double s = 0;
                for (int i = 0; i < c; i++) s += h[r * c + i] * w[v * c + i];
                z[r * vocab + v] = s;
            }
        }
        return z;
    }

    /** Central finite differences of f at x for every element, in double. */
    static double[] numericGradient(ToDoubleFunction<double[]> f, double[] x) {
        double[] grad = new double[x.length];
        double[] probe = x.clone();
        for (int i = 0; i < x.length; i++) {
            double h = 1e-5 * Math.max(1, Math.abs(x[i]));
            probe[i] = x[i] + h;
            double plus = f.applyAsDouble(probe);
            probe[i] = x[i] - h;
            double minus = f.applyAsDouble(probe);
            probe[i] = x[i];
            grad[i] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    /** Random values in [−range, range), rounded to float so that the code under test sees the same numbers. */
    static double[] random(SplittableRandom random, int n, double range) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) ((random.nextDouble() * 2 - 1) * range);
        return v;
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    /** Fails, listing the worst elements, when |actual − expected| exceeds tolerance·max(|expected|, floor). */
    static void assertClose(String what, double[] expected, double[] actual, double tolerance) {
        if (expected.length != actual.length) fail(what + ": expected " + expected.length + " values, got " + actual.length);
        double scale = 1e-12;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        List<String> bad = new ArrayList<>();
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]) / scale;
            worst = Math.max(worst, err);
            if (!(err <= tolerance) && bad.size() < 5) {
                bad.add(String.format(Locale.ROOT, "[%d] expected %.9g got %.9g", i, expected[i], actual[i]));
            }
        }
        if (!bad.isEmpty()) {
            fail(String.format(Locale.ROOT, "%s: error %.3g (relative to max |expected| %.3g) above %.1g: %s",
                    what, worst, scale, tolerance, String.join(", ", bad)));
        }
    }

    static void assertClose(String what, double expected, double actual, double tolerance) {
        assertClose(what, new double[] {expected}, new double[] {actual}, tolerance);
    }
}
