package dev.retort.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The layout of ggml's Q8_0 ({@link DType#Q8_0}): the weights of a row, 32 at a time, each run stored as one
 * 34-byte block, an F16 scale d (little-endian) followed by 32 int8 values q; weight = q·d. The product of an
 * int8 and an F16 is exact in F32, so a dequantised weight is the same float whoever computes it.
 *
 * <p>Elements are addressed as in any row-major tensor: element e lies in block e / 32 at position e % 32, so a
 * row of a [rows × cols] matrix (cols a multiple of 32) starts at block row·cols/32.
 */
public final class Q8Block {
    /** Weights per block. */
    public static final int BLOCK = 32;
    /** Bytes per block: the F16 scale, then the int8 values. */
    public static final int BYTES = 2 + BLOCK;

    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Q8Block() {}

    /** Byte offset of the block holding element {@code element}. */
    public static long blockAt(long element) {
        return element / BLOCK * BYTES;
    }

    /** The scale d of the block at byte {@code blockAt}, widened to F32. */
    public static float scale(MemorySegment s, long blockAt) {
        return Half.f16ToFloat(s.get(F16, blockAt));
    }

    /** Element {@code element} (counted in weights from the segment's start), dequantised: q·d. */
    public static float get(MemorySegment s, long element) {
        long block = blockAt(element);
        return s.get(ValueLayout.JAVA_BYTE, block + 2 + element % BLOCK) * scale(s, block);
    }

    /** out[at .. at + count) = elements [start, start + count) dequantised (any start and count). */
    public static void dequantize(MemorySegment s, long start, int count, float[] out, int at) {
        int i = 0;
        while (i < count) {
            long e = start + i;
            long block = blockAt(e);
            float d = scale(s, block);
            int from = (int) (e % BLOCK), run = Math.min(BLOCK - from, count - i);
            for (int j = 0; j < run; j++) out[at + i + j] = s.get(ValueLayout.JAVA_BYTE, block + 2 + from + j) * d;
            i += run;
        }
    }
}
