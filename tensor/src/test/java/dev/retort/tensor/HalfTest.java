package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * BF16 and F16 conversions against references written here from the formats' definitions: values decoded from
 * sign/exponent/mantissa in double, and rounding by searching the sorted list of all representable values for
 * the nearest one (ties to the even bit pattern), with overflow past max + ½ulp going to infinity.
 */
class HalfTest {

    /** A 16-bit float format: exponent and mantissa widths. */
    private record Format(String name, int exponentBits, int mantissaBits) {
        int bias() { return (1 << (exponentBits - 1)) - 1; }
        int exponentMask() { return (1 << exponentBits) - 1; }
        int signBit() { return 1 << (exponentBits + mantissaBits); }
        int infinityBits() { return exponentMask() << mantissaBits; }
        int quietBit() { return 1 << (mantissaBits - 1); }

        boolean isNaN(int bits) {
            return ((bits >>> mantissaBits) & exponentMask()) == exponentMask() && (bits & ((1 << mantissaBits) - 1)) != 0;
        }

        /** The value of a pattern from its fields, in double (exact: at most 11 significant bits). */
        double decode(int bits) {
            int e = (bits >>> mantissaBits) & exponentMask(), m = bits & ((1 << mantissaBits) - 1);
            double sign = (bits & signBit()) != 0 ? -1 : 1;
            if (e == exponentMask()) return m == 0 ? sign * Double.POSITIVE_INFINITY : Double.NaN;
            if (e == 0) return sign * Math.scalb((double) m, 1 - bias() - mantissaBits);
            return sign * Math.scalb(1.0 + Math.scalb((double) m, -mantissaBits), e - bias());
        }

        /** Correctly rounded (nearest, ties to even) pattern for a non-NaN double, searched over all values. */
        int roundToNearestEven(double x, double[] positiveValues) {
            int sign = (Double.doubleToRawLongBits(x) < 0) ? signBit() : 0;
            double a = Math.abs(x);
            // positiveValues[i] is the value of pattern i for i ≤ max finite; one more entry stands for infinity,
            // placed one ulp above the largest finite value so that rounding overflows at max + ½ulp.
            int lo = 0, hi = positiveValues.length - 1;
            if (a >= positiveValues[hi]) return sign | infinityBits();
            while (hi - lo > 1) {
                int mid = (lo + hi) >>> 1;
                if (positiveValues[mid] <= a) lo = mid; else hi = mid;
            }
            double below = a - positiveValues[lo], above = positiveValues[hi] - a;
            int chosen;
            if (below < above) chosen = lo;
            else if (above < below) chosen = hi;
            else chosen = (lo & 1) == 0 ? lo : hi;
            if (chosen == positiveValues.length - 1) return sign | infinityBits();
            return sign | chosen;
        }

        double[] positiveValues() {
            int maxFinite = infinityBits() - 1;
            double[] v = new double[maxFinite + 2];
            for (int i = 0; i <= maxFinite; i++) v[i] = decode(i);
            v[maxFinite + 1] = v[maxFinite] + (v[maxFinite] - v[maxFinite - 1]);  // "infinity": one ulp above max
            return v;
        }
    }

    private static final Format BF16 = new Format("BF16", 8, 7);
    private static final Format F16 = new Format("F16", 5, 10);

    private static float widen(Format f, short bits) {
        return f == BF16 ? Half.bf16ToFloat(bits) : Half.f16ToFloat(bits);
    }

    private static short narrow(Format f, float value) {
        return f == BF16 ? Half.floatToBf16(value) : Half.floatToF16(value);
    }

    private static String hex(int bits) {
        return "0x" + Integer.toHexString(bits & 0xffff);
    }

    // ---- widening -----------------------------------------------------------------------------------

    private static void checkWideningIsExactForAllPatterns(Format f) {
        for (int bits = 0; bits < 65536; bits++) {
            float w = widen(f, (short) bits);
            if (f.isNaN(bits)) {
                assertTrue(Float.isNaN(w), f.name() + " " + hex(bits) + " is NaN but widened to " + w);
                boolean negative = (Float.floatToRawIntBits(w) & 0x8000_0000) != 0;
                assertEquals((bits & f.signBit()) != 0, negative, f.name() + " NaN " + hex(bits) + " lost its sign");
                continue;
            }
            double expected = f.decode(bits);
            if (w != expected || (expected == 0 && (Float.floatToRawIntBits(w) != 0) != ((bits & f.signBit()) != 0))) {
                fail(f.name() + " " + hex(bits) + " widened to " + w + ", expected " + expected);
            }
        }
    }

    @Test
    void bf16WidensExactlyForAllBitPatterns() {
        checkWideningIsExactForAllPatterns(BF16);
    }

    @Test
    void f16WidensExactlyForAllBitPatterns() {
        checkWideningIsExactForAllPatterns(F16);
    }

    // ---- round trip ---------------------------------------------------------------------------------

    private static void checkRoundTrip(Format f) {
        for (int bits = 0; bits < 65536; bits++) {
            short back = narrow(f, widen(f, (short) bits));
            if (f.isNaN(bits)) {
                assertTrue(f.isNaN(back & 0xffff), f.name() + " NaN " + hex(bits) + " came back as " + hex(back));
                assertEquals(bits & f.signBit(), back & f.signBit(), f.name() + " NaN " + hex(bits) + " sign");
                assertTrue((back & f.quietBit()) != 0, f.name() + " NaN " + hex(bits) + " came back signalling: " + hex(back));
            } else {
                assertEquals(hex(bits), hex(back), f.name() + " round trip of " + hex(bits));
            }
        }
    }

    @Test
    void bf16RoundTripIsTheIdentityForEveryNonNaNPattern() {
        checkRoundTrip(BF16);
    }

    @Test
    void f16RoundTripIsTheIdentityForEveryNonNaNPattern() {
        checkRoundTrip(F16);
    }

    // ---- narrowing ----------------------------------------------------------------------------------

    /** Random floats over the whole range, exact ties and their neighbours, subnormals and the overflow edge. */
    private static void checkNarrowingRoundsToNearestEven(Format f, int minExponent, int maxExponent) {
        double[] values = f.positiveValues();
        SplittableRandom rnd = new SplittableRandom(f.exponentBits());
        int checked = 0, ties = 0;
        // Random bit patterns with exponents spread over the format's range (and a bit beyond on both sides).
        for (int i = 0; i < 400_000; i++) {
            int exponent = rnd.nextInt(minExponent, maxExponent + 1) + 127;
            int bits = (rnd.nextBoolean() ? 0x8000_0000 : 0) | (exponent << 23) | rnd.nextInt(1 << 23);
            checkOne(f, values, Float.intBitsToFloat(bits));
            checked++;
        }
        // Exact midpoints between adjacent representable values (every one is a float), and one float either side.
        for (int bits = 0; bits + 1 < values.length - 1; bits += 1 + rnd.nextInt(3)) {
            float mid = (float) ((values[bits] + values[bits + 1]) / 2);
            if (mid != (values[bits] + values[bits + 1]) / 2) continue;
            for (float v : new float[] {mid, Math.nextUp(mid), Math.nextDown(mid), -mid}) checkOne(f, values, v);
            ties++;
        }
        // The overflow edge: max + ½ulp is a tie that goes to infinity (max has an odd mantissa).
        int maxBits = f.infinityBits() - 1;
        float edge = (float) (values[maxBits] + (values[maxBits] - values[maxBits - 1]) / 2);
        for (float v : new float[] {edge, Math.nextDown(edge), Math.nextUp(edge), Float.MAX_VALUE, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, 0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL}) {
            checkOne(f, values, v);
        }
        assertEquals(f.infinityBits(), narrow(f, edge) & 0xffff, f.name() + " max + ½ulp must overflow to infinity");
        assertEquals(maxBits, narrow(f, Math.nextDown(edge)) & 0xffff, f.name() + " just below max + ½ulp stays max");
        assertTrue(checked > 0 && ties > 1000, "ties checked: " + ties);
    }

    private static void checkOne(Format f, double[] values, float v) {
        int expected = f.roundToNearestEven(v, values);
        int actual = narrow(f, v) & 0xffff;
        if (expected != actual) {
            fail(f.name() + " of " + v + " (0x" + Integer.toHexString(Float.floatToRawIntBits(v)) + ") is " + hex(actual)
                    + " = " + f.decode(actual) + ", expected " + hex(expected) + " = " + f.decode(expected));
        }
    }

    @Test
    void bf16NarrowingRoundsToNearestEvenWithOverflowAndSubnormals() {
        // Float exponents −149 (subnormal floats, which BF16 shares) to +127.
        checkNarrowingRoundsToNearestEven(BF16, -127, 127);
        // All float subnormals: BF16 keeps their top bits, so these exercise subnormal rounding and ties.
        double[] values = BF16.positiveValues();
        SplittableRandom rnd = new SplittableRandom(99);
        for (int i = 0; i < 100_000; i++) checkOne(BF16, values, Float.intBitsToFloat(rnd.nextInt(1, 1 << 23)));
    }

    @Test
    void f16NarrowingRoundsToNearestEvenWithOverflowAndSubnormals() {
        // F16 normals span 2^−14 .. 2^15, subnormals down to 2^−24; go a few binades past both ends.
        checkNarrowingRoundsToNearestEven(F16, -28, 18);
        assertEquals(0, Half.floatToF16(0x1p-25f), "half the least F16 subnormal is a tie to +0 (even)");
        assertEquals(1, Half.floatToF16(Math.nextUp(0x1p-25f)), "just above half the least subnormal rounds up");
        assertEquals(0x7bff, Half.floatToF16(65519.99f), "65519.99 rounds to the largest F16, 65504");
        assertEquals(0x7c00, Half.floatToF16(65520f), "65520 = max + ½ulp overflows to infinity");
    }

    @Test
    void narrowingKeepsNaNQuietWithItsSign() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 100_000; i++) {
            // Any NaN payload, including ones whose set bits all lie in the 16 (or 13) bits that are dropped.
            int payload = i < 23 ? 1 << i : rnd.nextInt(1, 1 << 23);
            int sign = rnd.nextBoolean() ? 0x8000_0000 : 0;
            float nan = Float.intBitsToFloat(sign | 0x7f80_0000 | payload);
            for (Format f : new Format[] {BF16, F16}) {
                int bits = narrow(f, nan) & 0xffff;
                assertTrue(f.isNaN(bits), f.name() + " of NaN 0x" + Integer.toHexString(sign | 0x7f80_0000 | payload)
                        + " is " + hex(bits) + ", not a NaN");
                assertTrue((bits & f.quietBit()) != 0, f.name() + " of NaN gave signalling " + hex(bits));
                assertEquals(sign != 0, (bits & f.signBit()) != 0, f.name() + " of NaN lost the sign: " + hex(bits));
            }
        }
    }

    @Test
    void handValues() {
        assertEquals(0x3f80, Half.floatToBf16(1f) & 0xffff);
        assertEquals(0x3c00, Half.floatToF16(1f) & 0xffff);
        assertEquals(0xc000, Half.floatToBf16(-2f) & 0xffff);
        // 1 + 2^−8 is halfway between BF16 1 and 1 + 2^−7: ties to even → 1; 1 + 3·2^−8 → 1 + 2^−6 (even).
        assertEquals(0x3f80, Half.floatToBf16(1f + 0x1p-8f) & 0xffff);
        assertEquals(0x3f82, Half.floatToBf16(1f + 3 * 0x1p-8f) & 0xffff);
        assertEquals(0x7f80, Half.floatToBf16(Float.MAX_VALUE) & 0xffff, "FLT_MAX rounds past BF16's max");
        assertEquals(0x0001, Half.floatToF16(0x1p-24f) & 0xffff, "least F16 subnormal");
        assertEquals(65504f, Half.f16ToFloat((short) 0x7bff));
    }
}
