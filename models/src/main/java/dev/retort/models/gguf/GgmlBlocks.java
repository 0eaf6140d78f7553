package dev.retort.models.gguf;

import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's block formats read back to F32, scalar and exact: each value is the F32 arithmetic of ggml's reference
 * {@code dequantize_row_*} (and of gguf-py's {@code quants}), a product (and, with a minimum, a sum) rounded once.
 * Every block of 32 weights starts with an F16 scale d:
 * <ul>
 *   <li>Q8_0 (34 bytes): d, 32 int8 q; x = q·d.
 *   <li>Q4_0 (18 bytes): d, 16 bytes of nibbles; the low nibble of byte j is element j, the high one element
 *       j + 16; x = (nibble − 8)·d.
 *   <li>Q4_1 (20 bytes): d, an F16 minimum m, 16 bytes of nibbles as Q4_0; x = nibble·d + m.
 *   <li>Q5_0 (22 bytes): d, a u32 of fifth bits (bit j for element j, bit j + 16 for element j + 16), 16 bytes
 *       of nibbles as Q4_0; x = (nibble | fifth bit·16 − 16)·d.
 *   <li>Q5_1 (24 bytes): d, m, the fifth bits, the nibbles; x = (nibble | fifth bit·16)·d + m.
 * </ul>
 * F32, F16 and BF16 rows are widened as stored.
 */
public final class GgmlBlocks {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GgmlBlocks() {}

    /**
     * Reads {@code count} values of {@code type} starting at byte {@code at} of {@code src} (a whole number of
     * blocks) into {@code out[0 .. count)}.
     */
    public static void toF32(GgmlType type, MemorySegment src, long at, int count, float[] out) {
        if (count % type.blockElements != 0) {
            throw new IllegalArgumentException(count + " values are not a whole number of " + type + " blocks");
        }
        switch (type) {
            case F32 -> MemorySegment.copy(src, F32, at, out, 0, count);
            case F16 -> {
                for (int i = 0; i < count; i++) out[i] = Half.f16ToFloat(src.get(I16, at + 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) out[i] = Float.intBitsToFloat((src.get(I16, at + 2L * i) & 0xffff) << 16);
            }
            case Q8_0 -> Q8Block.dequantize(src.asSlice(at), 0, count, out, 0);
            case Q4_0, Q4_1 -> {
                boolean min = type == GgmlType.Q4_1;
                for (int b = 0; b < count / 32; b++) {
                    long block = at + (long) type.blockBytes * b;
                    float d = scale(src, block);
                    float m = min ? scale(src, block + 2) : 0f;
                    long qs = block + (min ? 4 : 2);
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, qs + j) & 0xff;
                        if (min) {
                            out[32 * b + j] = (q & 0xf) * d + m;
                            out[32 * b + j + 16] = (q >>> 4) * d + m;
                        } else {
                            out[32 * b + j] = ((q & 0xf) - 8) * d;
                            out[32 * b + j + 16] = ((q >>> 4) - 8) * d;
                        }
                    }
                }
            }
            case Q5_0, Q5_1 -> {
                boolean min = type == GgmlType.Q5_1;
                for (int b = 0; b < count / 32; b++) {
                    long block = at + (long) type.blockBytes * b;
                    float d = scale(src, block);
                    float m = min ? scale(src, block + 2) : 0f;
                    long high = block + (min ? 4 : 2);
                    int qh = src.get(I32, high);
                    long qs = high + 4;
                    int offset = min ? 0 : 16;
                    for (int j = 0; j < 16; j++) {
                        int q = src.get(ValueLayout.JAVA_BYTE, qs + j) & 0xff;
                        int x0 = ((q & 0xf) | ((qh >>> j) << 4 & 0x10)) - offset;
                        int x1 = ((q >>> 4) | (qh >>> (j + 12) & 0x10)) - offset;
                        out[32 * b + j] = min ? x0 * d + m : x0 * d;
                        out[32 * b + j + 16] = min ? x1 * d + m : x1 * d;
                    }
                }
            }
            default -> throw new IllegalArgumentException("ggml type " + type + " is not read by Retort");
        }
    }

    private static float scale(MemorySegment src, long at) {
        return Half.f16ToFloat(src.get(I16, at));
    }
}
