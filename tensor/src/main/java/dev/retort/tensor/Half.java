package dev.retort.tensor;

/**
 * Scalar conversions between F32 and the two 16-bit float formats.
 *
 * <p>Both narrowing conversions round to nearest, ties to even, map overflow to infinity, keep subnormals
 * exact where representable, and turn any NaN into a quiet NaN of the same sign (never into infinity).
 *
 * <ul>
 *   <li>BF16 is the top half of an F32: 1 sign, 8 exponent, 7 mantissa bits.
 *   <li>F16 (IEEE binary16): 1 sign, 5 exponent, 10 mantissa bits; the JDK's own {@link Float#floatToFloat16}
 *       already implements IEEE rounding, so F16 delegates to it.
 * </ul>
 */
public final class Half {
    private Half() {}

    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fffffff) > 0x7f800000) {           // NaN: keep the sign, force the quiet bit
            return (short) ((bits >>> 16) | 0x0040);
        }
        // Round to nearest even on the 16 bits dropped: add 0x7fff plus the lowest kept bit.
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    public static float f16ToFloat(short bits) {
        float f = Float.float16ToFloat(bits);
        // The JDK's intrinsic quiets a signalling NaN (as VCVTPH2PS does) but its plain-Java fallback keeps it
        // signalling; quiet it here so the result, and the vector kernels that match it, never depend on which ran.
        return f == f ? f : Float.intBitsToFloat(Float.floatToRawIntBits(f) | 0x0040_0000);
    }

    public static short floatToF16(float value) {
        return Float.floatToFloat16(value);
    }

    /** Widens one 16-bit value of the given type. */
    public static float toFloat(DType type, short bits) {
        return switch (type) {
            case BF16 -> bf16ToFloat(bits);
            case F16 -> f16ToFloat(bits);
            default -> throw new IllegalArgumentException("not a 16-bit float type: " + type);
        };
    }

    /** Narrows one F32 value to the given 16-bit type. */
    public static short fromFloat(DType type, float value) {
        return switch (type) {
            case BF16 -> floatToBf16(value);
            case F16 -> floatToF16(value);
            default -> throw new IllegalArgumentException("not a 16-bit float type: " + type);
        };
    }
}
