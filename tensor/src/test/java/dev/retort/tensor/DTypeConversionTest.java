package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link DTypeConversion}: every pair of F32/BF16/F16, views at an offset and strided, and the refusals. */
class DTypeConversionTest {
    private static final DType[] FLOATS = {DType.F32, DType.BF16, DType.F16};
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    /** Values that round differently in BF16 and F16, a tie, a subnormal of each, and the specials. */
    private static final float[] VALUES = {0f, -0f, 1f, -2.5f, 1.00390625f, 0.1f, 65504f, 70000f, 1e-7f, 0x1p-130f,
            3.0e38f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1.0009765625f, -1234.5678f};

    /** What a conversion must give: each value rounded once to the target from its exact source value. */
    private static float expected(float sourceValue, DType to) {
        return to == DType.F32 ? sourceValue : Half.toFloat(to, Half.fromFloat(to, sourceValue));
    }

    @Test
    void convertsBetweenEveryPairOfFloatTypes() {
        for (DType from : FLOATS) {
            Tensor source = Tensor.of(arena, from, VALUES, 4, 4);
            float[] sourceValues = source.toFloatArray();
            for (DType to : FLOATS) {
                Tensor out = DTypeConversion.convert(source, to, arena);
                assertEquals(to, out.dtype());
                assertArrayEquals(new int[] {4, 4}, out.shape());
                assertTrue(out.isContiguous());
                float[] actual = out.toFloatArray();
                for (int i = 0; i < VALUES.length; i++) {
                    float want = expected(sourceValues[i], to);
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(actual[i]),
                            from + " -> " + to + " of " + sourceValues[i] + ": got " + actual[i] + ", expected " + want);
                }
            }
        }
    }

    @Test
    void halfToHalfRoundsOnce() {
        // 1 + 2^-8 + 2^-10 is exact in F16 but lies between two BF16 values (1 + 2^-7 and 1): widening to F32
        // first means it rounds once, to the nearer, 1 + 2^-7.
        short f16 = Half.floatToF16(1f + 0x1p-8f + 0x1p-10f);
        Tensor source = Tensor.zeros(arena, DType.F16, 1);
        source.segment().setAtIndex(I16, 0, f16);
        assertEquals(1f + 0x1p-7f, DTypeConversion.convert(source, DType.BF16, arena).get(0));
    }

    @Test
    void copiesViewsAtAnOffsetAndStridedViews() {
        float[] values = new float[24];
        for (int i = 0; i < values.length; i++) values[i] = i * 0.3f - 3;
        for (DType from : FLOATS) {
            Tensor base = Tensor.of(arena, from, values, 4, 6);
            Tensor row = base.slice(0, 1, 3);              // contiguous, at an offset
            Tensor columns = base.slice(1, 2, 5);          // strided
            Tensor transposed = base.transpose(0, 1);      // strided
            for (Tensor view : new Tensor[] {row, columns, transposed}) {
                for (DType to : FLOATS) {
                    Tensor out = DTypeConversion.convert(view, to, arena);
                    assertArrayEquals(view.shape(), out.shape());
                    float[] source = view.toFloatArray(), actual = out.toFloatArray();
                    for (int i = 0; i < source.length; i++) {
                        assertEquals(expected(source[i], to), actual[i], from + " view " + view + " -> " + to + " element " + i);
                    }
                }
            }
        }
    }

    @Test
    void refusesI8() {
        Tensor f32 = Tensor.zeros(arena, DType.F32, 2);
        Tensor i8 = Tensor.zeros(arena, DType.I8, 2);
        assertThrows(IllegalArgumentException.class, () -> DTypeConversion.convert(f32, DType.I8, arena));
        assertThrows(IllegalArgumentException.class, () -> DTypeConversion.convert(i8, DType.F32, arena));
    }
}
