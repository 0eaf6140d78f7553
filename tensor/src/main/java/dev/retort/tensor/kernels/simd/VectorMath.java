package dev.retort.tensor.kernels.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised transcendental functions for the element-wise kernels, at this copy's width ({@link Simd#F}).
 *
 * <p>Why our own exp rather than {@code lanewise(EXP)}: the JDK's lanewise EXP is fast only where a vector math
 * library backs it, and at other widths falls back to one {@code Math.exp} per lane; this one is plain
 * multiply-adds and bit tricks, so it runs as SIMD at every width and gives the same bits everywhere.
 *
 * <p>Method for exp(x): write x = k·ln2 + r with k = round(x/ln2) and |r| ≤ ln2/2, so exp(x) = 2^k · exp(r).
 * exp(r) is its Taylor polynomial of degree 7, whose truncation error on |r| ≤ ln2/2 is below
 * r⁸/8! ≈ 5e-9 (relative), well under a float ulp (6e-8 to 1.2e-7). 2^k is built from exponent bits, split into
 * two factors 2^⌊k/2⌋ · 2^(k−⌊k/2⌋) so that each factor is a normal float for every k the clamped input can
 * give: results that are subnormal or overflow come out correctly rounded from the last multiply.
 *
 * <p>Accuracy, measured by the tests against {@code Math.exp} in double on a dense sweep of [-88, 88]: at most
 * 0.91 ulp (tests require ≤ 1 ulp), the same at every width since the arithmetic is lane-wise; results in
 * the subnormal range (x below about −87.3) are within one least-subnormal step. Special values: exp(−∞) = 0,
 * exp(+∞) = +∞, exp(x ≥ 88.73) = +∞, exp(x ≤ −103.98) = 0, exp(NaN) = NaN.
 *
 * <p>Method for log(x) (FreeBSD's logf, branch-free): scale a subnormal x by 2^23 first, then split x = 2^k·m
 * with m in [√½, √2) straight from the bits, so log x = k·ln2 + log(1 + f), f = m − 1 in [−0.293, 0.415].
 * With s = f/(2 + f), log(1 + f) = 2·atanh(s) = f − f²/2 + s·(f²/2 + R(s²)), R a degree-4 minimax polynomial
 * in s² (relative error below 2^−25 on the range); k·ln2 is added as a 17-bit head, exact for |k| ≤ 127, and
 * a tail. Accuracy, measured by the tests against {@code Math.log} in double over every binade of the floats
 * (subnormals included): see {@code ElementwiseKdRowTest}; special values as Math.log: log(±0) = −∞,
 * log(x &lt; 0) = NaN, log(+∞) = +∞, log(NaN) = NaN.
 */
public final class VectorMath {
    private VectorMath() {}

    private static final VectorSpecies<Float> F = Simd.F;

    // Constants are vectors made once: an operation with a scalar operand broadcasts it first, and every
    // Vector API call costs C2 hundreds of nodes while it parses a loop (it stops inlining at a fixed budget,
    // see SimdElementwise), so a broadcast saved is room for the loop's other work. The arithmetic is the same.
    private static FloatVector vector(float v) {
        return FloatVector.broadcast(F, v);
    }

    private static final FloatVector LOG2E = vector((float) (1.0 / Math.log(2.0)));
    /** ln2 split into a float head and a tail, so k·ln2 is subtracted with about 48 bits of precision. */
    private static final float LN2_HI = (float) Math.log(2.0);
    private static final float LN2_LO = (float) (Math.log(2.0) - LN2_HI);
    private static final FloatVector MINUS_LN2_HI = vector(-LN2_HI);
    private static final FloatVector MINUS_LN2_LO = vector(-LN2_LO);
    /** Adding and subtracting 1.5·2^23 rounds a float of magnitude &lt; 2^22 to the nearest integer (ties even). */
    private static final FloatVector ROUND_MAGIC = vector(12582912f);
    /** exp(x) overflows above ~88.72 and is below half the least subnormal under ~-103.97; clamping to these
     * keeps k within [-159, 129], where both halves of 2^k are normal floats, and still gives ∞ and 0. */
    private static final FloatVector EXP_HI = vector(89f);
    private static final FloatVector EXP_LO = vector(-110f);
    private static final IntVector EXPONENT_BIAS = IntVector.broadcast(Simd.I, 127);

    // Taylor coefficients 1/n! for n = 0..7, as vectors for fused multiply-adds in Horner's scheme.
    private static final FloatVector ONE = vector(1f);
    private static final FloatVector C2 = vector(1f / 2);
    private static final FloatVector C3 = vector(1f / 6);
    private static final FloatVector C4 = vector(1f / 24);
    private static final FloatVector C5 = vector(1f / 120);
    private static final FloatVector C6 = vector(1f / 720);
    private static final FloatVector C7 = vector(1f / 5040);

    /** exp(x) lane by lane; see the class comment for its accuracy. */
    static FloatVector exp(FloatVector x) {
        FloatVector clamped = x.max(EXP_LO).min(EXP_HI);            // NaN stays NaN through max/min
        FloatVector k = clamped.mul(LOG2E).add(ROUND_MAGIC).sub(ROUND_MAGIC);
        FloatVector r = k.fma(MINUS_LN2_HI, clamped);                    // x − k·ln2 in two steps (Cody–Waite)
        r = k.fma(MINUS_LN2_LO, r);
        FloatVector p = r.mul(C7).add(C6);
        p = p.fma(r, C5);
        p = p.fma(r, C4);
        p = p.fma(r, C3);
        p = p.fma(r, C2);
        p = p.fma(r, ONE);
        p = p.fma(r, ONE);
        IntVector ki = (IntVector) k.convert(VectorOperators.F2I, 0);
        IntVector kLow = ki.lanewise(VectorOperators.ASHR, 1);
        IntVector kHigh = ki.sub(kLow);
        FloatVector scaleLow = kLow.add(EXPONENT_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector scaleHigh = kHigh.add(EXPONENT_BIAS).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scaleLow).mul(scaleHigh);
    }

    // log: FreeBSD e_logf.c's constants.
    /** Bits of √½ rounded: subtracting them from x's bits puts the mantissa's split point at √½. */
    private static final int SQRT_HALF_BITS = 0x3f3504f3;
    private static final FloatVector LOG_LN2_HI = vector(6.9313812256e-01f);   // 0x3f317180: 17 significant bits
    private static final FloatVector LOG_LN2_LO = vector(9.0580006145e-06f);   // 0x3717f7d1
    private static final FloatVector LG1 = vector(0.66666662693f), LG2 = vector(0.40000972152f);
    private static final FloatVector LG3 = vector(0.28498786688f), LG4 = vector(0.24279078841f);
    private static final FloatVector TWO = vector(2f), HALF = vector(0.5f), ZERO = vector(0f);

    /**
     * log(1 + f) − f·(1 − …) core of FreeBSD's logf for f in about [−0.3, 0.5], plus k·ln2 (k a float integer):
     * k·ln2_hi − ((f²/2 − (s·(f²/2 + R(s²)) + k·ln2_lo)) − f), s = f/(2 + f).
     */
    private static FloatVector logCore(FloatVector f, FloatVector k) {
        FloatVector s = f.div(f.add(TWO));
        FloatVector z = s.mul(s);
        FloatVector w = z.mul(z);
        FloatVector r = w.fma(LG3, LG1).mul(z).add(w.fma(LG4, LG2).mul(w));
        FloatVector hfsq = f.mul(f).mul(HALF);
        FloatVector tail = s.fma(hfsq.add(r), k.mul(LOG_LN2_LO));
        return k.mul(LOG_LN2_HI).sub(hfsq.sub(tail).sub(f));
    }

    private static final FloatVector TWO_23 = vector(0x1p23f), MIN_NORMAL = vector(Float.MIN_NORMAL);

    /**
     * log(x) lane by lane; see the class comment for the method and special values. About 16000 C2 nodes: too
     * big to share a loop with an exp (the loss's kernels use {@link #log1p} instead).
     */
    static FloatVector log(FloatVector x) {
        VectorMask<Float> subnormal = x.compare(VectorOperators.LT, MIN_NORMAL);   // also 0, < 0 (fixed below)
        FloatVector scaled = x.blend(x.mul(TWO_23), subnormal);
        IntVector ix = scaled.reinterpretAsInts().sub(SQRT_HALF_BITS);
        IntVector k = ix.lanewise(VectorOperators.ASHR, 23)
                .sub(IntVector.zero(Simd.I).blend(23, subnormal.cast(Simd.I)));
        FloatVector f = ix.and(0x007fffff).add(SQRT_HALF_BITS).reinterpretAsFloats().sub(ONE);
        FloatVector result = logCore(f, (FloatVector) k.convert(VectorOperators.I2F, 0));
        result = result.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.EQ, Float.POSITIVE_INFINITY));
        result = result.blend(Float.NaN, x.compare(VectorOperators.LT, ZERO).or(x.compare(VectorOperators.NE, x)));
        return result.blend(Float.NEGATIVE_INFINITY, x.compare(VectorOperators.EQ, ZERO));
    }

    /**
     * log(1 + e) for e in [0, 1] (a probability ratio: the mixture divergences' log(1 + exp(−|…|))), with no
     * special cases: e &lt; ½ is f = e itself (so tiny e keep full relative accuracy, unlike log(1 + e)), e ≥ ½
     * is 2·(1 + f) with f = (e − 1)/2, exact; then {@link #logCore}. Within 1 ulp of Math.log1p on [0, 1].
     */
    static FloatVector log1p(FloatVector e) {
        VectorMask<Float> upper = e.compare(VectorOperators.GE, HALF);
        FloatVector f = e.blend(e.sub(ONE).mul(HALF), upper);
        return logCore(f, ZERO.blend(ONE, upper));
    }

    /** σ(x) = 1/(1 + exp(−x)); exactly 0 far left (exp overflows to ∞), 1 far right. */
    static FloatVector sigmoid(FloatVector x) {
        return ONE.div(exp(x.neg()).add(ONE));
    }

    /**
     * out[i] = exp(x[i]) for every i, with the vector code of this width (masked for the tail). For tests and
     * benchmarks, which reach it reflectively through the width's class loader.
     */
    public static void exp(float[] x, float[] out) {
        if (out.length < x.length) throw new IllegalArgumentException("out holds " + out.length + " < " + x.length);
        for (int i = 0; i < x.length; i += F.length()) {
            VectorMask<Float> m = F.indexInRange(i, x.length);
            exp(FloatVector.fromArray(F, x, i, m)).intoArray(out, i, m);
        }
    }

    /** out[i] = log1p(x[i]) for x[i] in [0, 1], with the vector code of this width: the test hook of {@link #log1p}. */
    public static void log1p(float[] x, float[] out) {
        if (out.length < x.length) throw new IllegalArgumentException("out holds " + out.length + " < " + x.length);
        for (int i = 0; i < x.length; i += F.length()) {
            VectorMask<Float> m = F.indexInRange(i, x.length);
            log1p(FloatVector.fromArray(F, x, i, m)).intoArray(out, i, m);
        }
    }

    /** out[i] = log(x[i]) for every i, with the vector code of this width: the test hook of {@link #log(FloatVector)}. */
    public static void log(float[] x, float[] out) {
        if (out.length < x.length) throw new IllegalArgumentException("out holds " + out.length + " < " + x.length);
        for (int i = 0; i < x.length; i += F.length()) {
            VectorMask<Float> m = F.indexInRange(i, x.length);
            log(FloatVector.fromArray(F, x, i, m)).intoArray(out, i, m);
        }
    }
}
