package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The SIMD GEMM's packing routines (package-private in each width's copy of {@code kernels.simd}, reached by
 * reflection) against a plain element-by-element packing written here from the layout GemmPacking documents:
 * every packed element, padding included, bitwise.
 */
class GemmPackingTest {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    static List<Kernels> implementations() {
        return Kernels.allImplementations().stream().filter(k -> k.vectorBits() > 0).toList();
    }

    /** One width's copy of the packing class and its micro-tile constants. */
    private record Packing(Method packB, Method packA, int mr, int nr) {
        static Packing of(Kernels kernels) throws ReflectiveOperationException {
            ClassLoader loader = kernels.gemm().getClass().getClassLoader();
            Class<?> packing = Class.forName("dev.retort.tensor.kernels.simd.GemmPacking", true, loader);
            Class<?> kernel = Class.forName("dev.retort.tensor.kernels.simd.GemmMicroKernel", true, loader);
            Method packB = packing.getDeclaredMethod("packB", Layout.class, MemorySegment.class, long.class, int.class,
                    DType.class, int.class, int.class, int.class, int.class, float[].class, float[].class);
            Method packA = packing.getDeclaredMethod("packA", Layout.class, MemorySegment.class, long.class, int.class,
                    int.class, int.class, int.class, int.class, float[].class);
            packB.setAccessible(true);
            packA.setAccessible(true);
            return new Packing(packB, packA, constant(kernel, "MR"), constant(kernel, "NR"));
        }

        private static int constant(Class<?> c, String name) throws ReflectiveOperationException {
            Field f = c.getDeclaredField(name);
            f.setAccessible(true);
            return f.getInt(null);
        }
    }

    /** (rows, cols) of the stored matrix are large enough for every block below; values random in [-1, 1). */
    private static MemorySegment random(Arena arena, Random rnd, long elements, DType dtype) {
        MemorySegment s = arena.allocate(elements * dtype.bytes, 64);
        for (long e = 0; e < elements; e++) {
            float v = rnd.nextFloat() * 2 - 1;
            if (dtype == DType.F32) s.setAtIndex(F32, e, v);
            else s.setAtIndex(I16, e, Half.fromFloat(dtype, v));
        }
        return s;
    }

    private static float get(MemorySegment s, long at, DType dtype) {
        return dtype == DType.F32 ? s.getAtIndex(F32, at) : Half.toFloat(dtype, s.getAtIndex(I16, at));
    }

    /** Blocks (p0, kc, j0 or i0, nc or mc): k tails and edges that are not multiples of any width's VL, NR or MR. */
    private static final int[][] BLOCKS = {{0, 1, 0, 1}, {0, 16, 0, 48}, {3, 37, 5, 53}, {1, 64, 16, 96}, {7, 100, 2, 17}, {0, 8, 3, 100}};

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void packedBMatchesPlainPacking(Kernels kernels) throws ReflectiveOperationException {
        Packing packing = Packing.of(kernels);
        Random rnd = new Random(4);
        int ld = 131, storedRows = 160; // B stored [k x n] (AB, ATB) or [n x k] (ABT), ld ≥ every block's extent
        try (Arena arena = Arena.ofConfined()) {
            for (DType dtype : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                MemorySegment b = random(arena, rnd, 2 + (long) storedRows * ld, dtype);
                for (Layout layout : Layout.values()) {
                    for (int[] block : BLOCKS) {
                        int p0 = block[0], kc = block[1], j0 = block[2], nc = block[3];
                        int padded = (nc + packing.nr - 1) / packing.nr * packing.nr;
                        float[] expected = new float[padded * kc], actual = new float[padded * kc + 1];
                        for (int j = 0; j < padded; j++) {
                            for (int p = 0; p < kc; p++) {
                                long at = layout == Layout.ABT ? 2 + (long) (j0 + j) * ld + p0 + p : 2 + (long) (p0 + p) * ld + j0 + j;
                                expected[(j / packing.nr) * packing.nr * kc + p * packing.nr + j % packing.nr] = j < nc ? get(b, at, dtype) : 0f;
                            }
                        }
                        Arrays.fill(actual, Float.NaN); // every packed element must be written; the one past the end never
                        packing.packB.invoke(null, layout, b, 2L, ld, dtype, p0, kc, j0, nc, actual, new float[64 * kc]);
                        String what = kernels + " " + layout + " " + dtype + " p0=" + p0 + " kc=" + kc + " j0=" + j0 + " nc=" + nc;
                        assertBitwiseEqual(expected, actual, what);
                        assertEquals(Float.NaN, actual[padded * kc], what + ": wrote past the packed block");
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void packedAMatchesPlainPacking(Kernels kernels) throws ReflectiveOperationException {
        Packing packing = Packing.of(kernels);
        Random rnd = new Random(5);
        int ld = 131, storedRows = 160; // A stored [m x k] (AB, ABT) or [k x m] (ATB)
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = random(arena, rnd, 3 + (long) storedRows * ld, DType.F32);
            for (Layout layout : Layout.values()) {
                for (int[] block : BLOCKS) {
                    int p0 = block[0], kc = block[1], i0 = block[2], mc = block[3];
                    int padded = (mc + packing.mr - 1) / packing.mr * packing.mr;
                    float[] expected = new float[padded * kc], actual = new float[padded * kc + 1];
                    for (int i = 0; i < padded; i++) {
                        for (int p = 0; p < kc; p++) {
                            long at = layout == Layout.ATB ? 3 + (long) (p0 + p) * ld + i0 + i : 3 + (long) (i0 + i) * ld + p0 + p;
                            expected[(i / packing.mr) * packing.mr * kc + (i % packing.mr) * kc + p] = i < mc ? a.getAtIndex(F32, at) : 0f;
                        }
                    }
                    Arrays.fill(actual, Float.NaN);
                    packing.packA.invoke(null, layout, a, 3L, ld, i0, mc, p0, kc, actual);
                    String what = kernels + " " + layout + " p0=" + p0 + " kc=" + kc + " i0=" + i0 + " mc=" + mc;
                    assertBitwiseEqual(expected, actual, what);
                    assertEquals(Float.NaN, actual[padded * kc], what + ": wrote past the packed block");
                }
            }
        }
    }

    private static void assertBitwiseEqual(float[] expected, float[] actual, String what) {
        for (int e = 0; e < expected.length; e++) {
            if (Float.floatToRawIntBits(expected[e]) != Float.floatToRawIntBits(actual[e])) {
                assertEquals(expected[e], actual[e], what + ": packed element " + e);
                assertEquals(Float.floatToRawIntBits(expected[e]), Float.floatToRawIntBits(actual[e]), what + ": bits of packed element " + e);
            }
        }
    }
}
