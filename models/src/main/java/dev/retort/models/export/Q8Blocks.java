package dev.retort.models.export;

import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml's Q8_0 quantisation: each run of {@value #BLOCK} consecutive weights of a row becomes one
 * {@value #BLOCK_BYTES}-byte block, an F16 scale d followed by {@value #BLOCK} int8 values q, and stands for
 * q·d. With m the block's largest |x|, d = m / 127 and q = round(x / d), ties away from zero.
 *
 * <p>Every step is the F32 arithmetic of gguf-py's {@code quants.Q8_0} (itself bit-exact with ggml's reference
 * C): d = m / 127 in F32, the inverse 1/d in F32 (0 when d is 0), x·(1/d) in F32, rounded as
 * {@code floor(a) + floor(2·(a − floor(a)))} on a = |x·(1/d)|, the scale stored as d rounded to F16 (to nearest
 * even). So the bytes equal gguf-py's for every input, the edge cases included: a block whose m is subnormal
 * has 1/d = ∞ and stores all-zero values with scale 0; a NaN or infinite weight makes its block's values 0
 * (NaN·0 and ∞·0 cast to int8 as numpy casts them) with scale NaN or ∞.
 */
public final class Q8Blocks {
    /** Weights per block. */
    public static final int BLOCK = Q8Block.BLOCK;
    /** Bytes per block: the F16 scale and the int8 values. */
    public static final int BLOCK_BYTES = Q8Block.BYTES;

    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private Q8Blocks() {}

    /**
     * Quantises {@code values[from .. from + 32)} into the block at byte {@code at} of {@code out}.
     */
    public static void quantizeBlock(float[] values, int from, MemorySegment out, long at) {
        float max = 0f;
        for (int i = 0; i < BLOCK; i++) max = Math.max(max, Math.abs(values[from + i]));   // NaN propagates, as numpy's max
        float d = max / 127f;
        float inverse = d == 0f ? 0f : 1f / d;
        out.set(F16, at, Half.floatToF16(d));
        for (int i = 0; i < BLOCK; i++) {
            out.set(ValueLayout.JAVA_BYTE, at + 2 + i, toInt8(roundHalfAway(values[from + i] * inverse)));
        }
    }

    /** Quantises {@code values} (a multiple of 32 long) into a new byte array of whole blocks. */
    public static byte[] quantize(float[] values) {
        if (values.length % BLOCK != 0) throw new IllegalArgumentException("Q8_0 needs a multiple of " + BLOCK + " values, got " + values.length);
        byte[] bytes = new byte[values.length / BLOCK * BLOCK_BYTES];
        MemorySegment out = MemorySegment.ofArray(bytes);
        for (int b = 0; b < values.length / BLOCK; b++) quantizeBlock(values, b * BLOCK, out, (long) b * BLOCK_BYTES);
        return bytes;
    }

    /** The value block {@code block} stands for at position {@code i} (0..31): q·d, in F32. */
    public static float dequantize(MemorySegment blocks, long block, int i) {
        return Q8Block.get(blocks, block * BLOCK + i);
    }

    /** gguf-py's {@code np_roundf}: rounds half away from zero, in F32; NaN for ±∞ and NaN. */
    static float roundHalfAway(float x) {
        float a = Math.abs(x);
        float floored = (float) Math.floor(a);
        float rounded = floored + (float) Math.floor(2f * (a - floored));
        return Math.copySign(rounded, x);
    }

    /** numpy's F32 to int8 cast on x86: NaN to 0, otherwise the low byte of the truncated int (|x| ≤ 127 here). */
    static byte toInt8(float x) {
        return x != x ? 0 : (byte) (int) x;
    }
}
