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
 * <p>JSD and GJSD (0 &lt; β &lt; 1) take their terms in passes of one transcendental each (see the section's
 * comment); GJSD at β = 0 and 1 is FKL and RKL. SKL and SRKL use the scalar twin's term pass; their statistics
 * and gradient passes are vectorised like the others'.
 *
 * <p>Loops carry the mask {@code F.indexInRange(j, n)} in every step (all lanes but in the last), so each load
 * and store has one form, which keeps a loop with one {@link VectorMath#exp} inside C2's inlining node budget;
 * a loop never holds two exps (those are passes of their own), and no vector crosses a method of this class in
 * a loop: a helper that the JIT leaves a call boxes every vector that passes through it (measured: 11 GB per
 * 37 s of lora-kd steps in rowStats and kdGradient before).
 */
final class SimdKdRows {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = F.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Vectors added in float lanes before the lanes are moved into a double sum. */
    private static final int BLOCK_VECTORS = 32;

    private SimdKdRows() {}

    /** The lanes (stored into {@code lanes} by the caller) in index order, added in double. */
    private static double lanesInDouble(float[] lanes) {
        double s = 0;
        for (float x : lanes) s += x;
        return s;
    }

    // ---- statistics ---------------------------------------------------------------------------------------

    static RowStats rowStats(int n, double s, boolean withLse, MemorySegment x, long offset) {
        FloatVector maxAcc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = F.indexInRange(j, n);
            maxAcc = maxAcc.lanewise(VectorOperators.MAX, FloatVector.fromMemorySegment(F, x, (offset + j) * 4, ORDER, m), m);
        }
        float max = maxAcc.reduceLanes(VectorOperators.MAX);
        if (max == Float.NEGATIVE_INFINITY) return new RowStats(max, 0, withLse ? Double.NEGATIVE_INFINITY : Double.NaN, Double.NEGATIVE_INFINITY);
        int argmax = firstIndexOf(n, max, x, offset);

        boolean scaled = s != 1;
        double sum1 = withLse || !scaled ? expSum(n, false, 1f, max, x, offset) : 0;
        double sumS = scaled ? expSum(n, true, (float) s, max, x, offset) : 0;
        double lse1 = max + Math.log(sum1);
        return new RowStats(max, argmax, withLse ? lse1 : Double.NaN, scaled ? max * s + Math.log(sumS) : lse1);
    }

    /**
     * Σ_j exp(x_j − max), or Σ_j exp((x_j − max)·s) if {@code scaled}: one exp per pass (two in one loop went past
     * the JIT's inlining budget and boxed every vector), lanes moved into the double sum once per block.
     */
    private static double expSum(int n, boolean scaled, float s, float max, MemorySegment x, long offset) {
        FloatVector shift = FloatVector.broadcast(F, max), factor = FloatVector.broadcast(F, s);
        float[] lanes = new float[L];
        double sum = 0;
        for (int j = 0; j < n; ) {
            int end = Math.min(n, j + BLOCK_VECTORS * L);
            FloatVector acc = FloatVector.zero(F);
            for (; j < end; j += L) {
                VectorMask<Float> m = F.indexInRange(j, n);
                FloatVector d = FloatVector.fromMemorySegment(F, x, (offset + j) * 4, ORDER, m).sub(shift);
                acc = acc.add(VectorMath.exp(scaled ? d.mul(factor) : d), m);
            }
            acc.intoArray(lanes, 0);
            sum += lanesInDouble(lanes);
        }
        return sum;
    }

    /** The lowest j with x_j == value (value is the row's max, so it is there). */
    private static int firstIndexOf(int n, float value, MemorySegment x, long offset) {
        FloatVector target = FloatVector.broadcast(F, value);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = F.indexInRange(j, n);
            VectorMask<Float> hit = FloatVector.fromMemorySegment(F, x, (offset + j) * 4, ORDER, m)
                    .compare(VectorOperators.EQ, target).and(m);
            if (hit.anyTrue()) return j + hit.firstTrue();
        }
        return 0;
    }

    // ---- divergence terms -----------------------------------------------------------------------------------

    static void kdTerms(KdTerm term, double beta, int n, double s, MemorySegment y, long yOffset, double lseP,
                        MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums) {
        if (term == KdTerm.GJSD && (beta == 0 || beta == 1)) term = beta == 0 ? KdTerm.FKL : KdTerm.RKL;
        if ((term == KdTerm.JSD || term == KdTerm.GJSD) && beta > 0 && beta < 1) {
            mixtureTerms(term == KdTerm.GJSD, beta, n, s, y, yOffset, lseP, z, zOffset, lseQ, writeH, sums);
            return;
        }
        if (term != KdTerm.FKL && term != KdTerm.RKL && term != KdTerm.TVD) {
            ScalarKdRows.kdTerms(term, beta, n, s, y, yOffset, lseP, z, zOffset, lseQ, writeH, sums);
            return;
        }
        FloatVector factor = FloatVector.broadcast(F, (float) s);
        FloatVector minusLseP = FloatVector.broadcast(F, (float) -lseP), minusLseQ = FloatVector.broadcast(F, (float) -lseQ);
        FloatVector gap = FloatVector.broadcast(F, (float) (lseP - lseQ));   // log p − log q = (y − z)·s − gap
        float[] lanes = new float[L];
        FloatVector accD = FloatVector.zero(F), accH = FloatVector.zero(F);
        double d = 0, hSum = 0;
        int inBlock = 0;
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = F.indexInRange(j, n);
            FloatVector yv = FloatVector.fromMemorySegment(F, y, (yOffset + j) * 4, ORDER, m);
            FloatVector zv = FloatVector.fromMemorySegment(F, z, (zOffset + j) * 4, ORDER, m);
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
            accD = accD.add(t, m);
            accH = accH.add(h, m);
            if (writeH) h.intoMemorySegment(y, (yOffset + j) * 4, ORDER, m);
            if (++inBlock == BLOCK_VECTORS) {
                accD.intoArray(lanes, 0);
                d += lanesInDouble(lanes);
                accH.intoArray(lanes, 0);
                hSum += lanesInDouble(lanes);
                accD = FloatVector.zero(F);
                accH = FloatVector.zero(F);
                inBlock = 0;
            }
        }
        accD.intoArray(lanes, 0);
        sums[0] = d + lanesInDouble(lanes);
        accH.intoArray(lanes, 0);
        sums[1] = hSum + lanesInDouble(lanes);
    }

    // ---- JSD and GJSD: passes of one transcendental each -------------------------------------------------------
    //
    // C2 stops inlining into a compilation at ~18000 nodes; one VectorMath.exp is ~10000, log1p a little less. A
    // loop with the two exps (p, q), the mixture's exp and its log1p would be cut off there and every vector
    // crossing a call that stays a call is boxed (5-10x slower). Even the terms alone, with δ's two-sum and masked
    // tail loads, reached the cutoff (measured: NodeCountInliningCutoff, every h boxed). So a row takes five
    // passes over whole vectors, each a method of its own with at most one transcendental: p, q, then δ and e,
    // then the two logs, then the terms, handing rows over through per-thread scratch (4 rows, in L2); the last
    // n mod L buckets are taken in double like the scalar twin.
    //
    // The mixture m = β·p + (1−β)·q from δ = log p − log q alone: with a = log β, b = log(1−β) and
    // e = exp(−|a − b + δ|) (in [0, 1], where log1p is lean),
    //   log(q/m) = −log(β·e^δ + 1−β) = −(max(a + δ, b) + log1p(e)),
    //   log(p/m) = −log(β + (1−β)·e^(−δ)) = −(max(a, b − δ) + log1p(e)),
    // each side's log taken from its own larger term (not as the other's minus δ, which loses the small side's
    // log to δ's rounding when β or 1−β is small). Near δ = 0 those are differences of two logs of order one,
    // so there the lighter side's log comes from −log1p(w·expm1(±δ)) (see mixLogPass).

    /** |δ| below which the terms take log1p(w·expm1(±δ)); expm1's degree-5 Taylor polynomial is within 4e-8 there. */
    private static final float NEAR = 0.125f;
    private static final float C1 = 1f, C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120;

    /** Per-thread scratch rows of the mixture passes: p, q, δ (then log(p/m)) and e (then log(q/m)); p also holds kdGradient's buckets. */
    private static final class Scratch {
        float[] p = new float[0], q = p, d = p, e = p;
        /** A vector's lanes on their way into a double sum (toArray would allocate one per block). */
        final float[] lanes = new float[L];

        Scratch atLeast(int n) {
            if (p.length < n) {
                p = new float[n];
                q = new float[n];
                d = new float[n];
                e = new float[n];
            }
            return this;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static void mixtureTerms(boolean generalised, double beta, int n, double s, MemorySegment y, long yOffset,
                                     double lseP, MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums) {
        // f = β·p·log(p/m) + (1−β)·q·log(q/m), h = (1−β)·q·log(q/m); GJSD divides both by β(1−β)
        double scale = generalised ? 1 / (beta * (1 - beta)) : 1;
        // the passes take whole vectors; the last n mod L buckets are taken in double below, like the scalar twin
        int full = n - n % L;
        double d = 0, hSum = 0;
        if (full > 0) {
            Scratch r = SCRATCH.get().atLeast(full);
            double gap = lseP - lseQ;
            float gapHi = (float) gap, gapLo = (float) (gap - gapHi);
            expPass(full, (float) s, y, yOffset, (float) -lseP, r.p);
            expPass(full, (float) s, z, zOffset, (float) -lseQ, r.q);
            float logA = (float) Math.log(beta), logB = (float) Math.log1p(-beta);
            ratioPass(full, (float) s, y, yOffset, z, zOffset, gapHi, gapLo, logA - logB, r.d, r.e);
            mixLogPass(full, beta <= 0.5, (float) (beta <= 0.5 ? beta : 1 - beta), logA, logB, r.d, r.e);
            termsPass(full, r.p, r.q, r.d, r.e, (float) (beta * scale), (float) ((1 - beta) * scale), writeH, y, yOffset, r.lanes, sums);
            d = sums[0];
            hSum = sums[1];
        }
        KdTerm term = generalised ? KdTerm.GJSD : KdTerm.JSD;
        for (int j = full; j < n; j++) {
            double logP = y.getAtIndex(F32, yOffset + j) * s - lseP, logQ = z.getAtIndex(F32, zOffset + j) * s - lseQ;
            d += term.term(logP, logQ, beta);
            double h = term.termGradient(logP, logQ, beta);
            hSum += h;
            if (writeH) y.setAtIndex(F32, yOffset + j, (float) h);
        }
        sums[0] = d;
        sums[1] = hSum;
    }

    /**
     * δ = log p − log q = (y − z)·s − gap, with y − z carried exactly (Knuth's two-sum), the product's rounding
     * error recovered by an fma and gap as a float pair (gapHi + gapLo): one rounding at the end, so δ keeps its
     * own accuracy where p ≈ q (the mixture terms are differences of it there). An infinite y − z is δ itself.
     */
    private static FloatVector logRatio(FloatVector y, FloatVector z, FloatVector s, FloatVector gapHi, FloatVector gapLo) {
        FloatVector diff = y.sub(z);
        FloatVector bb = diff.sub(y);
        FloatVector err = y.sub(diff.sub(bb)).sub(z.add(bb));
        FloatVector product = diff.mul(s);
        FloatVector productErr = diff.fma(s, product.neg());
        FloatVector delta = product.sub(gapHi).add(err.fma(s, productErr).sub(gapLo));
        return delta.blend(diff, diff.test(VectorOperators.IS_INFINITE));
    }

    /** out = exp(x·s − lse) (minusLse = −lse), n a multiple of L. */
    private static void expPass(int n, float s, MemorySegment x, long xOffset, float minusLse, float[] out) {
        FloatVector factor = FloatVector.broadcast(F, s), shift = FloatVector.broadcast(F, minusLse);
        for (int j = 0; j < n; j += L) {
            VectorMath.exp(FloatVector.fromMemorySegment(F, x, (xOffset + j) * 4, ORDER).fma(factor, shift)).intoArray(out, j);
        }
    }

    /** δ into d and e = exp(−|log β − log(1−β) + δ|) into e. */
    private static void ratioPass(int n, float s, MemorySegment y, long yOffset, MemorySegment z, long zOffset,
                                  float gapHi, float gapLo, float logAOverB, float[] d, float[] e) {
        FloatVector factor = FloatVector.broadcast(F, s), gHi = FloatVector.broadcast(F, gapHi), gLo = FloatVector.broadcast(F, gapLo);
        FloatVector ab = FloatVector.broadcast(F, logAOverB);
        for (int j = 0; j < n; j += L) {
            FloatVector delta = logRatio(FloatVector.fromMemorySegment(F, y, (yOffset + j) * 4, ORDER),
                    FloatVector.fromMemorySegment(F, z, (zOffset + j) * 4, ORDER), factor, gHi, gLo);
            delta.intoArray(d, j);
            VectorMath.exp(delta.add(ab).abs().neg()).intoArray(e, j);
        }
    }

    /**
     * log(p/m) over δ in d and log(q/m) over e in e (see the section comment); near δ = 0 from
     * log1p(w·expm1(±δ)): the lighter side's weight w (β for β ≤ ½, giving −log(q/m); else 1−β with −δ, giving
     * −log(p/m)), expm1 by its Taylor polynomial, and the other side's log one δ away.
     */
    private static void mixLogPass(int n, boolean qSide, float weight, float logA, float logB, float[] d, float[] e) {
        FloatVector a = FloatVector.broadcast(F, logA), b = FloatVector.broadcast(F, logB);
        FloatVector w = FloatVector.broadcast(F, weight), sign = FloatVector.broadcast(F, qSide ? 1f : -1f);
        for (int j = 0; j < n; j += L) {
            FloatVector delta = FloatVector.fromArray(F, d, j);
            VectorMask<Float> near = delta.abs().compare(VectorOperators.LT, NEAR);
            FloatVector x = delta.mul(sign);
            FloatVector expm1 = x.fma(C5, C4).mul(x).add(C3).mul(x).add(C2).mul(x).add(C1).mul(x);
            FloatVector log1p = VectorMath.log1p(FloatVector.fromArray(F, e, j).blend(expm1.mul(w), near));
            FloatVector nearQ = qSide ? log1p.neg() : log1p.neg().sub(delta);                              // log(q/m) near δ = 0
            a.add(delta).max(b).add(log1p).neg().blend(nearQ, near).intoArray(e, j);
            b.sub(delta).max(a).add(log1p).neg().blend(nearQ.add(delta), near).intoArray(d, j);
        }
    }

    /** f = cp·p·log(p/m) + h and h = cq·q·log(q/m) (0 for an empty side), summed; h written into y if asked. */
    private static void termsPass(int n, float[] p, float[] q, float[] logPm, float[] logQm, float cp, float cq,
                                  boolean writeH, MemorySegment y, long yOffset, float[] lanes, double[] sums) {
        FloatVector wp = FloatVector.broadcast(F, cp), wq = FloatVector.broadcast(F, cq);
        double d = 0, hSum = 0;
        for (int j = 0; j < n; ) {
            int end = Math.min(n, j + BLOCK_VECTORS * L);
            // fresh accumulators per block, no flush inside the loop: a loop phi merged with a reset was boxed
            FloatVector accD = FloatVector.zero(F), accH = FloatVector.zero(F);
            for (; j < end; j += L) {
                FloatVector pv = FloatVector.fromArray(F, p, j), qv = FloatVector.fromArray(F, q, j);
                FloatVector pPart = pv.mul(FloatVector.fromArray(F, logPm, j)).blend(0f, pv.compare(VectorOperators.EQ, 0f));
                FloatVector h = qv.mul(FloatVector.fromArray(F, logQm, j)).mul(wq).blend(0f, qv.compare(VectorOperators.EQ, 0f));
                accD = accD.add(pPart.fma(wp, h));
                accH = accH.add(h);
                if (writeH) h.intoMemorySegment(y, (yOffset + j) * 4, ORDER);
            }
            accD.intoArray(lanes, 0);
            for (float x : lanes) d += x;
            accH.intoArray(lanes, 0);
            for (float x : lanes) hSum += x;
        }
        sums[0] = d;
        sums[1] = hSum;
    }

    // ---- gradient -------------------------------------------------------------------------------------------

    static void kdGradient(int n, MemorySegment z, long zOffset, double lse, double s, double lseQ, int target, double scale,
                           double ceWeight, double kdWeight, MemorySegment h, long hOffset, double hSum, double hRest, double lseRest) {
        boolean scaled = s != 1, rest = lseRest != Double.NEGATIVE_INFINITY;
        boolean hasTarget = target >= 0 && target < n;   // read before the loop overwrites the row
        float zTarget = hasTarget ? z.getAtIndex(F32, zOffset + target) : 0f;
        float hTarget = hasTarget && h != null ? h.getAtIndex(F32, hOffset + target) : 0f;
        // dz = softmax·ce + bucket·kd, bucket = q·(−H) + h (+ exp(z·s − lseRest)·hRest): a pass per exp, the
        // buckets kept in float scratch in between (three exps in one loop went past the JIT's inlining budget)
        float[] bucket = SCRATCH.get().atLeast(n).p;
        bucketPass(n, z, zOffset, scaled ? (float) s : 1f, (float) (scaled ? -lseQ : -lse), (float) -hSum, h, hOffset, bucket);
        if (rest) restPass(n, z, zOffset, (float) s, (float) -lseRest, (float) hRest, bucket);
        gradientPass(n, z, zOffset, (float) -lse, (float) (scale * ceWeight), (float) (scale * kdWeight), bucket);
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

    /**
     * bucket = q·(−H) (+ h), q = exp(z·s − lseQ), or exp(z − lse) = softmax(z) when s = 1 (factor 1, an exact
     * product; shift −lse).
     */
    private static void bucketPass(int n, MemorySegment z, long zOffset, float factor, float shift, float minusHSum,
                                   MemorySegment h, long hOffset, float[] bucket) {
        FloatVector f = FloatVector.broadcast(F, factor), sh = FloatVector.broadcast(F, shift);
        FloatVector minusH = FloatVector.broadcast(F, minusHSum);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = F.indexInRange(j, n);
            FloatVector zv = FloatVector.fromMemorySegment(F, z, (zOffset + j) * 4, ORDER, m);
            FloatVector b = VectorMath.exp(zv.mul(f).add(sh)).mul(minusH);
            if (h != null) b = b.add(FloatVector.fromMemorySegment(F, h, (hOffset + j) * 4, ORDER, m));
            b.intoArray(bucket, j, m);
        }
    }

    /** bucket += exp(z·s − lseRest)·hRest: the rest bucket's share of the top-k gradient. */
    private static void restPass(int n, MemorySegment z, long zOffset, float s, float minusLseRest, float hRest,
                                 float[] bucket) {
        FloatVector factor = FloatVector.broadcast(F, s), shift = FloatVector.broadcast(F, minusLseRest);
        FloatVector restH = FloatVector.broadcast(F, hRest);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = F.indexInRange(j, n);
            FloatVector zv = FloatVector.fromMemorySegment(F, z, (zOffset + j) * 4, ORDER, m);
            VectorMath.exp(zv.mul(factor).add(shift)).fma(restH, FloatVector.fromArray(F, bucket, j, m)).intoArray(bucket, j, m);
        }
    }

    /** z = softmax(z)·ce + bucket·kd, softmax(z) = exp(z − lse). */
    private static void gradientPass(int n, MemorySegment z, long zOffset, float minusLse, float ceScale, float kdScale,
                                     float[] bucket) {
        FloatVector shift = FloatVector.broadcast(F, minusLse);
        FloatVector ce = FloatVector.broadcast(F, ceScale), kd = FloatVector.broadcast(F, kdScale);
        for (int j = 0; j < n; j += L) {
            VectorMask<Float> m = F.indexInRange(j, n);
            long at = (zOffset + j) * 4;
            FloatVector softmax = VectorMath.exp(FloatVector.fromMemorySegment(F, z, at, ORDER, m).add(shift));
            softmax.mul(ce).add(FloatVector.fromArray(F, bucket, j, m).mul(kd)).intoMemorySegment(z, at, ORDER, m);
        }
    }
}
