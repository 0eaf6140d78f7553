package dev.retort.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Copies of floating-point tensors in another dtype, row-major and contiguous: F32 ↔ BF16 ↔ F16, narrowing with
 * round-to-nearest-even ({@link Half}). Used to widen frozen weights for a merge and to write merged models in
 * the dtype asked for. A half → half conversion widens exactly to F32 first, so it rounds once.
 */
public final class DTypeConversion {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private DTypeConversion() {}

    /**
     * A contiguous copy of {@code source} in {@code dtype} (F32, BF16 or F16), owned by {@code arena}; a Q8_0
     * source is dequantised (exactly, to F32 first).
     */
    public static Tensor convert(Tensor source, DType dtype, Arena arena) {
        if (dtype == DType.I8 || source.dtype() == DType.I8 || dtype == DType.Q8_0) {
            throw new IllegalArgumentException("cannot convert " + source + " to " + dtype
                    + ": only F32, BF16 and F16 are supported (and Q8_0 read)");
        }
        Tensor out = Tensor.zeros(arena, dtype, source.shape());
        if (source.dtype() == DType.Q8_0) {
            source.copyInto(out);   // element by element: Q8_0 weights are exact in F32, then narrowed once
            return out;
        }
        if (!source.isContiguous()) {
            source.copyInto(out);   // strided views are rare here; the general per-element path will do
            return out;
        }
        MemorySegment from = source.segment(), to = out.segment();
        long n = source.size(), at = source.offset();
        DType in = source.dtype();
        if (in == dtype) {
            MemorySegment.copy(from, source.byteOffset(), to, 0, n * in.bytes);
        } else if (in == DType.F32) {
            for (long i = 0; i < n; i++) to.setAtIndex(I16, i, Half.fromFloat(dtype, from.getAtIndex(F32, at + i)));
        } else if (dtype == DType.F32) {
            for (long i = 0; i < n; i++) to.setAtIndex(F32, i, Half.toFloat(in, from.getAtIndex(I16, at + i)));
        } else {
            for (long i = 0; i < n; i++) {
                to.setAtIndex(I16, i, Half.fromFloat(dtype, Half.toFloat(in, from.getAtIndex(I16, at + i))));
            }
        }
        return out;
    }
}
