package dev.retort.tensor.kernels.scalar;

import dev.retort.tensor.kernels.Elementwise.RowStats;
import dev.retort.tensor.kernels.KdTerm;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The distillation row kernels in plain Java and double precision: the scalar twin of the SIMD ones and the
 * arithmetic the KD loss had before they existed (so runs on the scalar kernels keep their numbers bit for bit).
 * The SIMD kernels fall back to {@link #kdTerms} for the divergences whose terms need a logarithm.
 */
public final class ScalarKdRows {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private ScalarKdRows() {}

    static RowStats rowStats(int n, double s, boolean withLse, MemorySegment x, long offset) {
        double max = Double.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int j = 0; j < n; j++) {
            float v = x.getAtIndex(F32, offset + j);
            if (v > max) {
                max = v;
                argmax = j;
            }
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return new RowStats(Float.NEGATIVE_INFINITY, 0, withLse ? max : Double.NaN, max);
        }
        // log Σ exp(x) is needed for lse, and is lseScaled itself at s = 1
        boolean unscaled = withLse || s == 1, scaled = s != 1;
        double sum = 0, sumScaled = 0;
        for (int j = 0; j < n; j++) {
            double d = x.getAtIndex(F32, offset + j) - max;
            if (unscaled) sum += Math.exp(d);
            if (scaled) sumScaled += Math.exp(d * s);
        }
        double lse1 = unscaled ? max + Math.log(sum) : Double.NaN;
        double lse = withLse ? lse1 : Double.NaN;
        double lseScaled = scaled ? max * s + Math.log(sumScaled) : lse1;
        return new RowStats((float) max, argmax, lse, lseScaled);
    }

    public static void kdTerms(KdTerm term, double beta, int n, double s, MemorySegment y, long yOffset, double lseP,
                        MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums) {
        double d = 0, hSum = 0;
        for (int j = 0; j < n; j++) {
            double logP = y.getAtIndex(F32, yOffset + j) * s - lseP;
            double logQ = z.getAtIndex(F32, zOffset + j) * s - lseQ;
            d += term.term(logP, logQ, beta);
            if (writeH) {
                double h = term.termGradient(logP, logQ, beta);
                hSum += h;
                y.setAtIndex(F32, yOffset + j, (float) h);
            }
        }
        sums[0] = d;
        sums[1] = hSum;
    }

    static void kdGradient(int n, MemorySegment z, long zOffset, double lse, double s, double lseQ, int target, double scale,
                           double ceWeight, double kdWeight, MemorySegment h, long hOffset, double hSum, double hRest, double lseRest) {
        boolean rest = lseRest != Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            double zj = z.getAtIndex(F32, zOffset + j);
            double softmax = Math.exp(zj - lse);
            double q = s == 1 ? softmax : Math.exp(zj * s - lseQ);
            double ce = softmax - (j == target ? 1 : 0);
            double inBucket = (h == null ? 0 : h.getAtIndex(F32, hOffset + j)) + (rest ? Math.exp(zj * s - lseRest) * hRest : 0);
            z.setAtIndex(F32, zOffset + j, (float) (scale * (ceWeight * ce + kdWeight * (inBucket - q * hSum))));
        }
    }
}
