package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.kernels.Elementwise.RowStats;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The distillation row kernels (row statistics, divergence terms, logit gradient) on the scalar twin and every
 * SIMD width, against a double-precision reference written here from the formulas: distributions as
 * probabilities (not log-probabilities), the divergences from their textbook definitions, derivatives by hand.
 * Rows are logit-like (spread of a few units, offset), with −∞ entries (masked tokens), a length that is no
 * multiple of any vector, and a vocabulary-sized row of 32,000.
 */
class ElementwiseKdRowsTest {

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    static final int[] LENGTHS = {1, 7, 33, 1000, 32_000};

    static float[] logits(SplittableRandom r, int n, double spread, double offset, boolean masked) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (offset + spread * r.nextGaussian());
        if (masked && n > 3) {
            x[1] = Float.NEGATIVE_INFINITY;
            x[n - 2] = Float.NEGATIVE_INFINITY;
        }
        return x;
    }

    static double logSumExp(float[] x, double s) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) max = Math.max(max, v * s);
        if (max == Double.NEGATIVE_INFINITY) return max;
        double sum = 0;
        for (float v : x) sum += Math.exp(v * s - max);
        return max + Math.log(sum);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rowStatisticsMatchTheReference(Kernels k) {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : LENGTHS) {
            for (double s : new double[] {1, 0.5, 1 / 3.0}) {
                float[] x = logits(r, n, 3, 20, true);
                x[n / 2] = 40;   // the max, once
                Buf b = Buf.of(x);
                RowStats st = k.elementwise().rowStats(n, s, true, b.segment(), b.offset());
                assertEquals(40f, st.max(), k + " n=" + n);
                assertEquals(n / 2, st.argmax(), k + " n=" + n);
                assertEquals(logSumExp(x, 1), st.lse(), 2e-6 * Math.abs(logSumExp(x, 1)), k + " n=" + n + " lse");
                assertEquals(logSumExp(x, s), st.lseScaled(), 2e-6 * Math.abs(logSumExp(x, s)), k + " n=" + n + " s=" + s);
                b.assertGuardsIntact(k + " rowStats");
            }
        }
        // ties go to the lowest index; a row of −∞ has no mass
        Buf ties = Buf.of(new float[] {1, 5, 2, 5, 5});
        assertEquals(1, k.elementwise().rowStats(5, 1, true, ties.segment(), ties.offset()).argmax(), k + " ties");
        Buf empty = Buf.of(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY});
        RowStats none = k.elementwise().rowStats(3, 0.5, true, empty.segment(), empty.offset());
        assertEquals(Double.NEGATIVE_INFINITY, none.lse());
        assertEquals(Double.NEGATIVE_INFINITY, none.lseScaled());
    }

    /** f(p, q) summed and h_j = q_j·∂f/∂q_j, from probabilities, straight from the definitions. */
    static double[] referenceTerms(KdTerm term, double beta, double[] p, double[] q, double[] h) {
        if (term == KdTerm.GJSD && beta == 0) return referenceTerms(KdTerm.FKL, beta, p, q, h);   // its ends
        if (term == KdTerm.GJSD && beta == 1) return referenceTerms(KdTerm.RKL, beta, p, q, h);
        double d = 0, hSum = 0;
        for (int j = 0; j < p.length; j++) {
            double pj = p[j], qj = q[j], f, g;   // g = ∂f/∂q
            switch (term) {
                case FKL -> {
                    f = pj == 0 ? 0 : pj * Math.log(pj / qj);
                    g = -pj / qj;
                }
                case RKL -> {
                    f = qj == 0 ? 0 : qj * Math.log(qj / pj);
                    g = Math.log(qj / pj) + 1;
                }
                case JSD -> {
                    double m = beta * pj + (1 - beta) * qj;
                    f = (pj == 0 ? 0 : beta * pj * Math.log(pj / m)) + (qj == 0 ? 0 : (1 - beta) * qj * Math.log(qj / m));
                    g = (1 - beta) * Math.log(qj / m);
                }
                case GJSD -> {   // JSD(β) / (β(1−β)), 0 < β < 1
                    double m = beta * pj + (1 - beta) * qj;
                    f = ((pj == 0 ? 0 : beta * pj * Math.log(pj / m)) + (qj == 0 ? 0 : (1 - beta) * qj * Math.log(qj / m)))
                            / (beta * (1 - beta));
                    g = Math.log(qj / m) / beta;
                }
                case SKL -> {
                    double m = beta * pj + (1 - beta) * qj;
                    f = pj == 0 ? 0 : pj * Math.log(pj / m);
                    g = -(1 - beta) * pj / m;
                }
                case SRKL -> {
                    double m = beta * qj + (1 - beta) * pj;
                    f = qj == 0 ? 0 : qj * Math.log(qj / m);
                    g = Math.log(qj / m) + 1 - beta * qj / m;
                }
                default -> {
                    f = 0.5 * Math.abs(pj - qj);
                    g = 0.5 * Math.signum(qj - pj);
                }
            }
            d += f;
            h[j] = qj == 0 ? 0 : qj * g;
            hSum += h[j];
        }
        return new double[] {d, hSum};
    }

    static double[] softmax(float[] x, double s) {
        double lse = logSumExp(x, s);
        double[] p = new double[x.length];
        for (int j = 0; j < x.length; j++) p[j] = Math.exp(x[j] * s - lse);
        return p;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void divergenceTermsMatchTheDefinitions(Kernels k) {
        SplittableRandom r = new SplittableRandom(2);
        for (KdTerm term : KdTerm.values()) {
          // GJSD also at its ends (FKL, RKL) and next to them, where it divides by a small β(1−β)
          double[] betas = term == KdTerm.GJSD ? new double[] {0.3, 0, 1, 1e-3, 1 - 1e-3}
                  : new double[] {term == KdTerm.JSD ? 0.3 : term == KdTerm.SKL || term == KdTerm.SRKL ? 0.1 : 0};
          for (double beta : betas) {
            for (int n : LENGTHS) {
                for (double s : new double[] {1, 0.5}) {
                    float[] z = logits(r, n, 2, 5, false), y = new float[n];
                    for (int j = 0; j < n; j++) y[j] = (float) (z[j] + 0.7 * r.nextGaussian());   // a teacher near the student
                    double[] p = softmax(y, s), q = softmax(z, s), hRef = new double[n];
                    double[] ref = referenceTerms(term, beta, p, q, hRef);
                    Buf yb = Buf.of(y), zb = Buf.of(z);
                    double[] sums = new double[2];
                    k.elementwise().kdTerms(term, beta, n, s, yb.segment(), yb.offset(), logSumExp(y, s),
                            zb.segment(), zb.offset(), logSumExp(z, s), true, sums);
                    String what = k + " " + term + " beta=" + beta + " n=" + n + " s=" + s;
                    // D: relative 1e-4 of itself, or 1e-7 absolute (a sum of n terms in float lanes)
                    assertEquals(ref[0], sums[0], Math.max(1e-4 * Math.abs(ref[0]), 1e-7), what + " D");
                    assertEquals(ref[1], sums[1], 1e-5, what + " H");
                    float[] h = yb.read();
                    double worst = 0;
                    for (int j = 0; j < n; j++) worst = Math.max(worst, Math.abs(h[j] - hRef[j]) / (Math.abs(hRef[j]) + 1e-6 * (q[j] + p[j]) + 1e-30));
                    assertTrue(worst < 1e-3, what + " h: worst relative error " + worst);
                    yb.assertGuardsIntact(what);
                    zb.assertGuardsIntact(what);
                }
            }
          }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void theLogitGradientMatchesTheChainRule(Kernels k) {
        SplittableRandom r = new SplittableRandom(3);
        for (int n : LENGTHS) {
            for (boolean restBucket : new boolean[] {false, true}) {
                double s = 0.5, scale = 1 / 7.0, ceWeight = 0.4, kdWeight = 0.6 * 2;
                float[] z = logits(r, n, 2, 3, restBucket), h = new float[n];
                for (int j = 0; j < n; j++) h[j] = (float) (1e-3 * r.nextGaussian());
                int target = n / 3;
                double lse = logSumExp(z, 1), lseQ = logSumExp(z, s), hSum = 0.25, hRest = restBucket ? -0.3 : 0;
                double lseRest = restBucket ? lseQ - 0.7 : Double.NEGATIVE_INFINITY;
                double[] expected = new double[n];
                for (int j = 0; j < n; j++) {
                    double softmax = Math.exp(z[j] - lse), q = Math.exp(z[j] * s - lseQ);
                    double bucket = (restBucket ? 0 : h[j]) + (restBucket ? Math.exp(z[j] * s - lseRest) * hRest : 0);
                    expected[j] = scale * (ceWeight * (softmax - (j == target ? 1 : 0)) + kdWeight * (bucket - hSum * q));
                }
                Buf zb = Buf.of(z), hb = Buf.of(h);
                k.elementwise().kdGradient(n, zb.segment(), zb.offset(), lse, s, lseQ, target, scale, ceWeight, kdWeight,
                        restBucket ? null : hb.segment(), restBucket ? 0 : hb.offset(), hSum, hRest, lseRest);
                float[] dz = zb.read();
                double norm = 0;
                for (double e : expected) norm = Math.max(norm, Math.abs(e));
                for (int j = 0; j < n; j++) {
                    assertEquals(expected[j], dz[j], 2e-6 * norm + 1e-6 * Math.abs(expected[j]),
                            k + " n=" + n + " rest=" + restBucket + " j=" + j);
                }
                zb.assertGuardsIntact(k + " kdGradient");
            }
        }
    }
}
