package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Q8_0 weights in the kernels (matvec, matvecs, GEMM's B, the embedding table), on every implementation: the
 * scalar twin and SIMD at each width.
 *
 * <p>The bound: a Q8_0 matvec computes Σ_j w_j·x_j with w_j = q_j·d exactly representable in F32 (an int8 times
 * an F16), so only the order of the float operations differs from a matvec over the dequantised F32 matrix.
 * Any evaluation order of a sum of n products, each term passing through at most n + 2 roundings (the block sum,
 * the scale, the running sum, the lane sum), is within γ(n + 2)·Σ|w_j·x_j| of the exact value, γ(n) = n·u/(1 − n·u),
 * u = 2⁻²⁴. So each kernel is held to that against a double reference, and any two of them (SIMD vs its scalar
 * twin, Q8_0 vs the dequantised F32 matvec) to twice it.
 */
class Q8KernelsTest {
    private static final double U = Math.ulp(1.0f) / 2;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final Arena arena = Arena.ofShared();

    static Stream<Kernels> implementations() {
        return Kernels.allImplementations().stream();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    @AfterAll
    static void restoreThreads() {
        ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
    }

    /** γ(n) = n·u / (1 − n·u). */
    static double gamma(int n) {
        return n * U / (1 - n * U);
    }

    /** A Q8_0 matrix [rows × cols] with row stride ld (multiples of 32) from element offset; random q and d. */
    private record Q8Matrix(MemorySegment segment, long offset, int ld, int rows, int cols) {
        double get(int r, int c) {
            return Q8Block.get(segment, offset + (long) r * ld + c);
        }

        /** The same weights dequantised into a contiguous F32 [rows × cols]. */
        MemorySegment dequantised(Arena arena) {
            MemorySegment out = arena.allocate((long) rows * cols * 4, 64);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) out.setAtIndex(F32, (long) r * cols + c, (float) get(r, c));
            }
            return out;
        }
    }

    private Q8Matrix q8(Random rnd, int rows, int cols, int extraCols, int offsetBlocks) {
        int ld = cols + extraCols;
        long offset = (long) offsetBlocks * Q8Block.BLOCK;
        long blocks = (offset + (long) rows * ld) / Q8Block.BLOCK;
        MemorySegment s = arena.allocate(blocks * Q8Block.BYTES + 7, 1);
        for (long b = 0; b < blocks; b++) {
            long at = b * Q8Block.BYTES;
            // scales over a few binades, as real ones; int8 values over the whole range, -128 included
            s.set(F16, at, Half.floatToF16((float) (Math.scalb(1 + rnd.nextDouble(), -8 + rnd.nextInt(5)) * (rnd.nextBoolean() ? 1 : -1))));
            for (int j = 0; j < Q8Block.BLOCK; j++) s.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (rnd.nextInt(256) - 128));
        }
        return new Q8Matrix(s, offset, ld, rows, cols);
    }

    private MemorySegment vector(Random rnd, int n) {
        MemorySegment x = arena.allocate((long) n * 4 + 4, 64);
        for (int i = 0; i < n; i++) x.setAtIndex(F32, i, (float) rnd.nextGaussian());
        x.setAtIndex(F32, n, Float.NaN);   // a guard: read by nothing, overwritten by nothing
        return x;
    }

    private static final int[][] SHAPES = {{1, 32}, {7, 64}, {33, 96}, {258, 768}, {5, 2048}, {13, 160}};

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matvecWithinTheBoundOfTheDoubleReferenceTheScalarTwinAndTheDequantisedMatvec(Kernels kernels) {
        Gemm scalar = Kernels.scalar().gemm();
        Random rnd = new Random(21);
        for (int[] s : SHAPES) {
            int rows = s[0], cols = s[1];
            Q8Matrix w = q8(rnd, rows, cols, rows % 2 == 0 ? 32 : 0, rows % 3);
            MemorySegment x = vector(rnd, cols), y = vector(rnd, rows), twin = vector(rnd, rows), f32 = vector(rnd, rows);
            kernels.gemm().matvec(rows, cols, w.segment, w.offset, w.ld, DType.Q8_0, x, 0, y, 0);
            scalar.matvec(rows, cols, w.segment, w.offset, w.ld, DType.Q8_0, x, 0, twin, 0);
            kernels.gemm().matvec(rows, cols, w.dequantised(arena), 0, cols, DType.F32, x, 0, f32, 0);
            double g = gamma(cols + 2);
            for (int r = 0; r < rows; r++) {
                double exact = 0, magnitude = 0;
                for (int c = 0; c < cols; c++) {
                    double term = w.get(r, c) * x.getAtIndex(F32, c);
                    exact += term;
                    magnitude += Math.abs(term);
                }
                double actual = y.getAtIndex(F32, r);
                String where = kernels + " Q8_0 matvec " + rows + "x" + cols + " y[" + r + "] = " + actual;
                if (!(Math.abs(actual - exact) <= g * magnitude)) fail(where + ", double reference " + exact + ", bound " + g * magnitude);
                double other = twin.getAtIndex(F32, r);
                if (!(Math.abs(actual - other) <= 2 * g * magnitude)) fail(where + ", scalar twin " + other + ", bound " + 2 * g * magnitude);
                other = f32.getAtIndex(F32, r);
                if (!(Math.abs(actual - other) <= 2 * g * magnitude)) fail(where + ", dequantised F32 matvec " + other);
            }
            assertTrue(Float.isNaN(y.getAtIndex(F32, rows)), kernels + " matvec wrote past y");
        }
    }

    /** matvecs (a decode batch) gives each vector bitwise what matvec gives it alone, for 1 and 3 threads. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matvecsEqualsMatvecPerVectorBitwiseForAnyThreadCount(Kernels kernels) {
        Random rnd = new Random(22);
        for (int[] s : new int[][] {{1, 32, 3}, {7, 64, 2}, {258, 768, 5}, {600, 288, 17}}) {
            int rows = s[0], cols = s[1], count = s[2];
            Q8Matrix w = q8(rnd, rows, cols, 0, 1);
            MemorySegment x = vector(rnd, count * cols);
            MemorySegment first = null;
            for (int threads : new int[] {1, 3}) {
                ThreadPool.setSharedThreads(threads);
                MemorySegment batched = vector(rnd, count * rows), alone = vector(rnd, rows);
                kernels.gemm().matvecs(count, rows, cols, w.segment, w.offset, w.ld, DType.Q8_0, x, 0, batched, 0);
                assertTrue(Float.isNaN(batched.getAtIndex(F32, (long) count * rows)), kernels + " matvecs wrote past Y");
                for (int i = 0; i < count; i++) {
                    kernels.gemm().matvec(rows, cols, w.segment, w.offset, w.ld, DType.Q8_0, x, (long) i * cols, alone, 0);
                    for (int r = 0; r < rows; r++) {
                        assertEquals(Float.floatToRawIntBits(alone.getAtIndex(F32, r)),
                                Float.floatToRawIntBits(batched.getAtIndex(F32, (long) i * rows + r)),
                                kernels + " matvecs " + rows + "x" + cols + " vector " + i + " row " + r + ", " + threads + " threads");
                    }
                }
                if (first == null) {
                    first = batched;
                } else {
                    for (long e = 0; e < (long) count * rows; e++) {
                        assertEquals(Float.floatToRawIntBits(first.getAtIndex(F32, e)), Float.floatToRawIntBits(batched.getAtIndex(F32, e)),
                                kernels + " matvecs 1 vs 3 threads, element " + e);
                    }
                }
            }
        }
    }

    /**
     * GEMM with a Q8_0 B (a prompt chunk, the training forward of a frozen model) widens B exactly, so it is
     * bitwise the GEMM over the dequantised F32 B, for A·Bᵀ (forward) and A·B (backward dX).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void gemmWithQ8BIsBitwiseTheGemmOverTheDequantisedB(Kernels kernels) {
        Random rnd = new Random(23);
        int m = 9, n = 70, k = 96;
        for (Layout layout : new Layout[] {Layout.ABT, Layout.AB}) {
            // ABT: B stored [n × k]; AB: B stored [k × n'] with n' = 96 (a multiple of 32)
            int bRows = layout == Layout.ABT ? n : k, bCols = layout == Layout.ABT ? k : 96, cols = layout == Layout.ABT ? n : 96;
            Q8Matrix b = q8(rnd, bRows, bCols, 0, 2);
            MemorySegment a = vector(rnd, m * k), c = vector(rnd, m * cols), ref = vector(rnd, m * cols);
            kernels.gemm().gemm(layout, m, cols, k, 1f, a, 0, k, b.segment, b.offset, bCols, DType.Q8_0, 0f, c, 0, cols);
            kernels.gemm().gemm(layout, m, cols, k, 1f, a, 0, k, b.dequantised(arena), 0, bCols, DType.F32, 0f, ref, 0, cols);
            for (long e = 0; e < (long) m * cols; e++) {
                assertEquals(Float.floatToRawIntBits(ref.getAtIndex(F32, e)), Float.floatToRawIntBits(c.getAtIndex(F32, e)),
                        kernels + " " + layout + " Q8_0 B, element " + e);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void embeddingGatherDequantisesQ8RowsExactly(Kernels kernels) {
        Random rnd = new Random(24);
        int vocab = 11, dim = 96;
        Q8Matrix table = q8(rnd, vocab, dim, 0, 0);
        int[] ids = {3, 0, 10, 3};
        MemorySegment out = vector(rnd, ids.length * dim);
        kernels.elementwise().embeddingGather(ids.length, ids, 0, vocab, dim, table.segment, 0, DType.Q8_0, out, 0);
        for (int t = 0; t < ids.length; t++) {
            for (int j = 0; j < dim; j++) {
                assertEquals((float) table.get(ids[t], j), out.getAtIndex(F32, (long) t * dim + j), kernels + " token " + t + " column " + j);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void misalignedQ8OperandsFailInOneLine(Kernels kernels) {
        Random rnd = new Random(25);
        Q8Matrix w = q8(rnd, 4, 64, 0, 0);
        MemorySegment x = vector(rnd, 64), y = vector(rnd, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> kernels.gemm().matvec(4, 48, w.segment, 0, 64, DType.Q8_0, x, 0, y, 0));
        assertEquals("W is Q8_0, so its offset (0), leading dimension (64) and row length (48) must be multiples of 32", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> kernels.gemm().matvec(3, 64, w.segment, 16, 64, DType.Q8_0, x, 0, y, 0));
        assertTrue(e.getMessage().contains("offset (16)"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> kernels.gemm().matvec(5, 64, w.segment, 0, 64, DType.Q8_0, x, 0, y, 0));
        assertTrue(e.getMessage().startsWith("W [5 x 64]"), e.getMessage());
    }
}
