package dev.retort.tensor.kernels.simd;

import dev.retort.tensor.kernels.Elementwise.RowStats;
import dev.retort.tensor.kernels.KdTerm;
import dev.retort.tensor.kernels.scalar.ScalarKdRows;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The distillation row kernels with the Vector API at this copy's width: one row of V logits, on the calling
 * thread (the KD loss spreads rows over the pool). Arithmetic is in float lanes with {@link VectorMath#exp};
 * every sum is gathered from the lanes into a double once per block of {@link #BLOCK_VECTORS} vectors, so a
 * row of 32,000 logits keeps a relative error near float's rounding (the tests bound it against a double
 * reference at every width). Log-probability differences are formed as (y − z)·s − (lseP − lseQ), with the
 * normalisers' difference taken in double, so near-equal distributions keep their small divergence.
 *
 * <p>The divergences whose terms need a logarithm (jsd, skl, srkl: log of a mixture) use the scalar twin's
 * term pass; their statistics and gradient passes are vectorised like the others'.
 */
final class SimdKdRows {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = F.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Vectors added in float lanes before the lanes are moved into a double sum. */
    private static final int BLOCK_VECTORS = 32;

    private SimdKdRows() {}

    private static FloatVector load(MemorySegment s, long element, VectorMask<Float> m) {
        return m == null ? FloatVector.fromMemorySegment(F, s, element * 4, ORDER) : FloatVector.fromMemorySegment(F, s, element * 4, ORDER, m);
    }

    private static void store(FloatVector v, MemorySegment s, long element, VectorMask<Float> m) {
        if (m == null) v.intoMemorySegment(s, element * 4, ORDER);
        else v.intoMemorySegment(s, element * 4, ORDER, m);
    }

    /** The lanes in index order, added in double. */
    private static double lanesInDouble(FloatVector v) {
        float[] lanes = v.toArray();
        double s = 0;
        for (float x : lanes) s += x;
        return s;
    }

    // ---- statistics ---------------------------------------------------------------------------------------

    static RowStats rowStats(int n, double s, boolean withLse, MemorySegment x, long offset) {
        FloatVector maxAcc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = j + L <= n ? null : F.indexInRange(j, n);
            FloatVector v = load(x, offset + j, m);
            maxAcc = m == null ? maxAcc.max(v) : maxAcc.lanewise(VectorOperators.MAX, v, m);
        }
        float max = maxAcc.reduceLanes(VectorOperators.MAX);
        if (max == Float.NEGATIVE_INFINITY) return new RowStats(max, 0, withLse ? Double.NEGATIVE_INFINITY : Double.NaN, Double.NEGATIVE_INFINITY);
        int argmax = firstIndexOf(n, max, x, offset);

        boolean scaled = s != 1;
        FloatVector shift = FloatVector.broadcast(F, max), factor = FloatVector.broadcast(F, (float) s);
        FloatVector acc1 = FloatVector.zero(F), accS = FloatVector.zero(F);
        double sum1 = 0, sumS = 0;
        int j = 0, inBlock = 0;
        for (; j <= n - L; j += L) {
            FloatVector d = load(x, offset + j, null).sub(shift);
            if (withLse || !scaled) acc1 = acc1.add(VectorMath.exp(d));
            if (scaled) accS = accS.add(VectorMath.exp(d.mul(factor)));
            if (++inBlock == BLOCK_VECTORS) {
                sum1 += lanesInDouble(acc1);
                sumS += lanesInDouble(accS);
                acc1 = FloatVector.zero(F);
                accS = FloatVector.zero(F);
                inBlock = 0;
            }
        }
        if (j < n) {
            VectorMask<Float> m = F.indexInRange(j, n);
            FloatVector d = load(x, offset + j, m).sub(shift);
            if (withLse || !scaled) acc1 = acc1.add(VectorMath.exp(d), m);
            if (scaled) accS = accS.add(VectorMath.exp(d.mul(factor)), m);
        }
        sum1 += lanesInDouble(acc1);
        sumS += lanesInDouble(accS);
        double lse1 = max + Math.log(sum1);
        return new RowStats(max, argmax, withLse ? lse1 : Double.NaN, scaled ? max * s + Math.log(sumS) : lse1);
    }

    /** The lowest j with x_j == value (value is the row's max, so it is there). */
    private static int firstIndexOf(int n, float value, MemorySegment x, long offset) {
        FloatVector target = FloatVector.broadcast(F, value);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = j + L <= n ? null : F.indexInRange(j, n);
            VectorMask<Float> hit = load(x, offset + j, m).compare(VectorOperators.EQ, target);
            if (m != null) hit = hit.and(m);
            if (hit.anyTrue()) return j + hit.firstTrue();
        }
        return 0;
    }

    // ---- divergence terms -----------------------------------------------------------------------------------

    static void kdTerms(KdTerm term, double beta, int n, double s, MemorySegment y, long yOffset, double lseP,
                        MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums) {
        if (term != KdTerm.FKL && term != KdTerm.RKL && term != KdTerm.TVD) {
            ScalarKdRows.kdTerms(term, beta, n, s, y, yOffset, lseP, z, zOffset, lseQ, writeH, sums);
            return;
        }
        FloatVector factor = FloatVector.broadcast(F, (float) s);
        FloatVector minusLseP = FloatVector.broadcast(F, (float) -lseP), minusLseQ = FloatVector.broadcast(F, (float) -lseQ);
        FloatVector gap = FloatVector.broadcast(F, (float) (lseP - lseQ));   // log p − log q = (y − z)·s − gap
        FloatVector accD = FloatVector.zero(F), accH = FloatVector.zero(F);
        double d = 0, hSum = 0;
        int inBlock = 0;
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = j + L <= n ? null : F.indexInRange(j, n);
            FloatVector yv = load(y, yOffset + j, m), zv = load(z, zOffset + j, m);
            FloatVector logPMinusLogQ = yv.sub(zv).mul(factor).sub(gap);
            FloatVector t, h;
            if (term == KdTerm.FKL) {
                FloatVector p = VectorMath.exp(yv.fma(factor, minusLseP));
                t = p.mul(logPMinusLogQ).blend(0f, p.compare(VectorOperators.EQ, 0f));   // 0·log 0 = 0
                h = p.neg();
            } else if (term == KdTerm.RKL) {
                FloatVector q = VectorMath.exp(zv.fma(factor, minusLseQ));
                VectorMask<Float> empty = q.compare(VectorOperators.EQ, 0f);
                t = q.mul(logPMinusLogQ.neg()).blend(0f, empty);
                h = q.mul(logPMinusLogQ.neg().add(1f)).blend(0f, empty);
            } else {
                FloatVector p = VectorMath.exp(yv.fma(factor, minusLseP)), q = VectorMath.exp(zv.fma(factor, minusLseQ));
                t = p.sub(q).abs().mul(0.5f);
                FloatVector sign = FloatVector.zero(F).blend(1f, logPMinusLogQ.compare(VectorOperators.LT, 0f))
                        .blend(-1f, logPMinusLogQ.compare(VectorOperators.GT, 0f));   // sign(log q − log p)
                h = q.mul(sign).mul(0.5f);
            }
            if (m == null) {
                accD = accD.add(t);
                accH = accH.add(h);
            } else {
                accD = accD.add(t, m);
                accH = accH.add(h, m);
            }
            if (writeH) store(h, y, yOffset + j, m);
            if (++inBlock == BLOCK_VECTORS) {
                d += lanesInDouble(accD);
                hSum += lanesInDouble(accH);
                accD = FloatVector.zero(F);
                accH = FloatVector.zero(F);
                inBlock = 0;
            }
        }
        sums[0] = d + lanesInDouble(accD);
        sums[1] = hSum + lanesInDouble(accH);
    }

    // ---- gradient -------------------------------------------------------------------------------------------

    static void kdGradient(int n, MemorySegment z, long zOffset, double lse, double s, double lseQ, int target, double scale,
                           double ceWeight, double kdWeight, MemorySegment h, long hOffset, double hSum, double hRest, double lseRest) {
        boolean scaled = s != 1, rest = lseRest != Double.NEGATIVE_INFINITY;
        boolean hasTarget = target >= 0 && target < n;   // read before the loop overwrites the row
        float zTarget = hasTarget ? z.getAtIndex(F32, zOffset + target) : 0f;
        float hTarget = hasTarget && h != null ? h.getAtIndex(F32, hOffset + target) : 0f;
        FloatVector minusLse = FloatVector.broadcast(F, (float) -lse), factor = FloatVector.broadcast(F, (float) s);
        FloatVector minusLseQ = FloatVector.broadcast(F, (float) -lseQ), minusLseRest = FloatVector.broadcast(F, rest ? (float) -lseRest : 0f);
        FloatVector ce = FloatVector.broadcast(F, (float) (scale * ceWeight)), kd = FloatVector.broadcast(F, (float) (scale * kdWeight));
        FloatVector minusH = FloatVector.broadcast(F, (float) -hSum), restH = FloatVector.broadcast(F, (float) hRest);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = j + L <= n ? null : F.indexInRange(j, n);
            FloatVector zv = load(z, zOffset + j, m);
            FloatVector softmax = VectorMath.exp(zv.add(minusLse));
            FloatVector scaledZ = zv.mul(factor);
            FloatVector q = scaled ? VectorMath.exp(scaledZ.add(minusLseQ)) : softmax;
            FloatVector bucket = q.mul(minusH);
            if (h != null) bucket = bucket.add(load(h, hOffset + j, m));
            if (rest) bucket = VectorMath.exp(scaledZ.add(minusLseRest)).fma(restH, bucket);
            store(softmax.mul(ce).add(bucket.mul(kd)), z, zOffset + j, m);
        }
        // the target's one-hot, in double like the scalar twin (the row's largest correction, and one element)
        if (hasTarget) {
            double zt = zTarget;
            double softmax = Math.exp(zt - lse);
            double q = scaled ? Math.exp(zt * s - lseQ) : softmax;
            double inBucket = hTarget + (rest ? Math.exp(zt * s - lseRest) * hRest : 0);
            z.setAtIndex(F32, zOffset + target,
                    (float) (scale * (ceWeight * (softmax - 1) + kdWeight * (inBucket - q * hSum))));
        }
    }
}
