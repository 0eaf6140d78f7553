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
 */
public final class VectorMath {
    private VectorMath() {}

    private static final VectorSpecies<Float> F = Simd.F;

    private static final float LOG2E = (float) (1.0 / Math.log(2.0));
    /** ln2 split into a float head and a tail, so k·ln2 is subtracted with about 48 bits of precision. */
    private static final float LN2_HI = (float) Math.log(2.0);
    private static final float LN2_LO = (float) (Math.log(2.0) - LN2_HI);
    private static final FloatVector MINUS_LN2_HI = FloatVector.broadcast(F, -LN2_HI);
    private static final FloatVector MINUS_LN2_LO = FloatVector.broadcast(F, -LN2_LO);
    /** Adding and subtracting 1.5·2^23 rounds a float of magnitude &lt; 2^22 to the nearest integer (ties even). */
    private static final float ROUND_MAGIC = 12582912f;
    /** exp(x) overflows above ~88.72 and is below half the least subnormal under ~-103.97; clamping to these
     * keeps k within [-159, 129], where both halves of 2^k are normal floats, and still gives ∞ and 0. */
    private static final float EXP_HI = 89f;
    private static final float EXP_LO = -110f;

    // Taylor coefficients 1/n! for n = 0..7, as vectors for fused multiply-adds in Horner's scheme.
    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);
    private static final FloatVector C2 = FloatVector.broadcast(F, 1f / 2);
    private static final FloatVector C3 = FloatVector.broadcast(F, 1f / 6);
    private static final FloatVector C4 = FloatVector.broadcast(F, 1f / 24);
    private static final FloatVector C5 = FloatVector.broadcast(F, 1f / 120);
    private static final FloatVector C6 = FloatVector.broadcast(F, 1f / 720);
    private static final float C7 = 1f / 5040;

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
        FloatVector scaleLow = kLow.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector scaleHigh = kHigh.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(scaleLow).mul(scaleHigh);
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
}
