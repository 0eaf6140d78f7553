package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
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
 * GEMM, batched GEMM and matvec on every implementation (scalar and SIMD at each width), against a reference
 * computed here in double precision from the same (widened) input values.
 *
 * <p>Tolerance: |C - ref| ≤ 4·sqrt(k+1)·eps·(|alpha|·Σ_p |a_ip·b_pj| + |beta·c_ij|) + 1e-30, with eps = 2^-24.
 * Float summation of k products errs by about sqrt(k)·eps·Σ|ab| on random data (worst case k·eps·Σ|ab|);
 * the factor 4 leaves room for the blocked order and the final alpha/beta rounding, and stays far below the
 * error of any wrong element (which is of the order of Σ|ab| itself).
 */
class GemmTest {
    private static final double EPS = Math.ulp(1.0f);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final Arena arena = Arena.ofShared(); // worker threads read and write these segments

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

    // ---- operands -------------------------------------------------------------------------------------

    /** A row-major [rows x cols] matrix with row stride ld, stored as dtype at an element offset. */
    private record Matrix(MemorySegment segment, long offset, int ld, int rows, int cols, DType dtype) {
        double get(int r, int c) {
            long at = offset + (long) r * ld + c;
            return dtype == DType.F32 ? segment.getAtIndex(F32, at) : Half.toFloat(dtype, segment.getAtIndex(I16, at));
        }
    }

    /** Random values in [-1, 1) (narrowed to dtype); padding and the offset gap hold NaN, which must never be read. */
    private Matrix random(Random rnd, int rows, int cols, int pad, long offset, DType dtype) {
        int ld = cols + pad;
        long elements = offset + (long) Math.max(rows, 1) * ld;
        MemorySegment s = arena.allocate(elements * dtype.bytes, 64);
        for (long e = 0; e < elements; e++) put(s, e, dtype, Float.NaN);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) put(s, offset + (long) r * ld + c, dtype, rnd.nextFloat() * 2 - 1);
        }
        return new Matrix(s, offset, ld, rows, cols, dtype);
    }

    private static void put(MemorySegment s, long at, DType dtype, float value) {
        if (dtype == DType.F32) s.setAtIndex(F32, at, value);
        else s.setAtIndex(I16, at, Half.fromFloat(dtype, value));
    }

    /** One GEMM problem: operands as stored for the layout, and a copy of C before the call. */
    private final class Problem {
        final Layout layout;
        final int m, n, k;
        final float alpha, beta;
        final Matrix a, b, c;
        final double[][] cBefore;

        Problem(Random rnd, Layout layout, int m, int n, int k, DType bType, int pad, float alpha, float beta) {
            this.layout = layout;
            this.m = m;
            this.n = n;
            this.k = k;
            this.alpha = alpha;
            this.beta = beta;
            a = layout == Layout.ATB ? random(rnd, k, m, pad, 3, DType.F32) : random(rnd, m, k, pad, 3, DType.F32);
            b = layout == Layout.ABT ? random(rnd, n, k, pad, 5, bType) : random(rnd, k, n, pad, 5, bType);
            c = random(rnd, m, n, pad, 7, DType.F32);
            cBefore = snapshot(c);
        }

        double opA(int i, int p) { return layout == Layout.ATB ? a.get(p, i) : a.get(i, p); }
        double opB(int p, int j) { return layout == Layout.ABT ? b.get(j, p) : b.get(p, j); }

        void run(Gemm gemm) {
            gemm.gemm(layout, m, n, k, alpha, a.segment, a.offset, a.ld, b.segment, b.offset, b.ld, b.dtype,
                    beta, c.segment, c.offset, c.ld);
        }

        /** Checks C against alpha·op(A)·op(B) + beta·C_before in double, with the tolerance in the class comment. */
        void check(String what) {
            // op(A) as [m][k] and op(B) transposed as [n][k], widened once, so the reference is a plain dot product.
            double[][] opA = new double[m][k], opBT = new double[n][k];
            for (int i = 0; i < m; i++) for (int p = 0; p < k; p++) opA[i][p] = opA(i, p);
            for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) opBT[j][p] = opB(p, j);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double sum = 0, magnitude = 0;
                    double[] ai = opA[i], bj = opBT[j];
                    for (int p = 0; p < k; p++) {
                        double product = ai[p] * bj[p];
                        sum += product;
                        magnitude += Math.abs(product);
                    }
                    double old = beta == 0 ? 0 : beta * cBefore[i][j];
                    double expected = alpha * sum + old;
                    double tolerance = 4 * Math.sqrt(k + 1) * EPS * (Math.abs(alpha) * magnitude + Math.abs(old)) + 1e-30;
                    double actual = c.get(i, j);
                    if (!(Math.abs(actual - expected) <= tolerance)) {
                        fail(what + ": C[" + i + "," + j + "] = " + actual + " but the double reference is " + expected
                                + " (|diff| " + Math.abs(actual - expected) + " > tolerance " + tolerance + ")");
                    }
                }
            }
            checkPaddingUntouched(c, what);
        }
    }

    private static double[][] snapshot(Matrix x) {
        double[][] copy = new double[x.rows][x.cols];
        for (int r = 0; r < x.rows; r++) for (int col = 0; col < x.cols; col++) copy[r][col] = x.get(r, col);
        return copy;
    }

    /** C's row padding was NaN before the call and must still be NaN: the kernel wrote only [m x n]. */
    private static void checkPaddingUntouched(Matrix c, String what) {
        for (int r = 0; r < c.rows; r++) {
            for (long e = c.offset + (long) r * c.ld + c.cols; e < c.offset + (long) (r + 1) * c.ld; e++) {
                float v = c.segment.getAtIndex(F32, e);
                if (!Float.isNaN(v)) fail(what + ": wrote " + v + " into the padding of C at element " + e);
            }
        }
    }

    private static String describe(Kernels kernels, Layout layout, int m, int n, int k, DType bType) {
        return kernels + " " + layout + " m=" + m + " n=" + n + " k=" + k + " B=" + bType;
    }

    // ---- gemm -----------------------------------------------------------------------------------------

    private static final int[][] AWKWARD = {
            {1, 1, 1}, {1, 7, 33}, {7, 1, 31}, {31, 33, 1}, {33, 31, 7}, {1, 100, 257}, {100, 1, 65},
            {9, 50, 300}, {57, 17, 100}, {100, 257, 33},
    };

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matchesDoubleReferenceOnAwkwardShapes(Kernels kernels) {
        Random rnd = new Random(1);
        for (Layout layout : Layout.values()) {
            for (DType bType : new DType[] {DType.F32, DType.BF16, DType.F16}) {
                for (int[] s : AWKWARD) {
                    Problem p = new Problem(rnd, layout, s[0], s[1], s[2], bType, 3, 1f, 0f);
                    p.run(kernels.gemm());
                    p.check(describe(kernels, layout, s[0], s[1], s[2], bType));
                }
            }
        }
    }

    /** Large enough to cross every blocking boundary: m > 256 rows per tile, n > 480 columns, k > 2 K blocks. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matchesDoubleReferenceAcrossCacheBlocks(Kernels kernels) {
        Random rnd = new Random(2);
        for (Layout layout : Layout.values()) {
            DType bType = layout == Layout.AB ? DType.BF16 : DType.F32;
            Problem p = new Problem(rnd, layout, 263, 497, 531, bType, 0, 1f, 0f);
            p.run(kernels.gemm());
            p.check(describe(kernels, layout, 263, 497, 531, bType));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void appliesAlphaAndBetaWithPaddedLeadingDimensions(Kernels kernels) {
        Random rnd = new Random(3);
        for (Layout layout : Layout.values()) {
            for (float[] ab : new float[][] {{-0.5f, 0.25f}, {2f, 1f}, {1f, -1f}}) {
                Problem p = new Problem(rnd, layout, 37, 45, 290, DType.F16, 11, ab[0], ab[1]);
                p.run(kernels.gemm());
                p.check(describe(kernels, layout, 37, 45, 290, DType.F16) + " alpha=" + ab[0] + " beta=" + ab[1]);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void betaZeroOverwritesNaNInC(Kernels kernels) {
        Random rnd = new Random(4);
        for (Layout layout : Layout.values()) {
            Problem p = new Problem(rnd, layout, 19, 70, 40, DType.F32, 2, 1.5f, 0f);
            for (int i = 0; i < p.m; i++) {
                for (int j = 0; j < p.n; j++) p.c.segment.setAtIndex(F32, p.c.offset + (long) i * p.c.ld + j, Float.NaN);
            }
            p.run(kernels.gemm());
            p.check(describe(kernels, layout, 19, 70, 40, DType.F32) + " over NaN-filled C");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void betaOneAccumulatesIntoC(Kernels kernels) {
        Random rnd = new Random(5);
        Problem p = new Problem(rnd, Layout.ABT, 21, 66, 300, DType.BF16, 1, 1f, 1f);
        p.run(kernels.gemm());
        p.check(describe(kernels, Layout.ABT, 21, 66, 300, DType.BF16) + " beta=1 (first call)");
        // A second call adds the same product again: C = 2·A·Bᵀ + C_before.
        p.run(kernels.gemm());
        for (int i = 0; i < p.m; i++) {
            for (int j = 0; j < p.n; j++) {
                double sum = 0, magnitude = 0;
                for (int q = 0; q < p.k; q++) {
                    sum += p.opA(i, q) * p.opB(q, j);
                    magnitude += Math.abs(p.opA(i, q) * p.opB(q, j));
                }
                double expected = 2 * sum + p.cBefore[i][j];
                double tolerance = 8 * Math.sqrt(p.k + 1) * EPS * (2 * magnitude + Math.abs(p.cBefore[i][j]));
                double actual = p.c.get(i, j);
                if (!(Math.abs(actual - expected) <= tolerance)) {
                    fail(kernels + " beta=1 twice: C[" + i + "," + j + "] = " + actual + " but the reference is " + expected);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void zeroKOrZeroAlphaScalesC(Kernels kernels) {
        Random rnd = new Random(6);
        Problem zeroK = new Problem(rnd, Layout.AB, 5, 9, 0, DType.F32, 1, 1f, 0.5f);
        zeroK.run(kernels.gemm());
        zeroK.check(kernels + " k=0 beta=0.5");
        Problem zeroAlpha = new Problem(rnd, Layout.ABT, 5, 9, 13, DType.F32, 1, 0f, 0f);
        zeroAlpha.c.segment.setAtIndex(F32, zeroAlpha.c.offset, Float.NaN);
        zeroAlpha.run(kernels.gemm());
        zeroAlpha.check(kernels + " alpha=0 beta=0");
    }

    // ---- batched --------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void batchedMatchesReferenceWithSharedAndStridedOperands(Kernels kernels) {
        Random rnd = new Random(7);
        int batch = 5, m = 13, n = 40, k = 70;
        for (Layout layout : Layout.values()) {
            for (boolean sharedB : new boolean[] {false, true}) {
                // Matrices of the batch lie back to back in one segment, each with padded rows.
                int aRows = layout == Layout.ATB ? k : m, aCols = layout == Layout.ATB ? m : k;
                int bRows = layout == Layout.ABT ? n : k, bCols = layout == Layout.ABT ? k : n;
                Matrix a = random(rnd, batch * aRows, aCols, 2, 1, DType.F32);
                Matrix b = random(rnd, (sharedB ? 1 : batch) * bRows, bCols, 1, 2, DType.BF16);
                Matrix c = random(rnd, batch * m, n, 3, 4, DType.F32);
                double[][] before = snapshot(c);
                long strideA = (long) aRows * a.ld, strideB = sharedB ? 0 : (long) bRows * b.ld, strideC = (long) m * c.ld;
                kernels.gemm().gemmBatched(layout, batch, m, n, k, 0.75f, a.segment, a.offset, strideA, a.ld,
                        b.segment, b.offset, strideB, b.ld, DType.BF16, 0.5f, c.segment, c.offset, strideC, c.ld);
                for (int mat = 0; mat < batch; mat++) {
                    int bBase = sharedB ? 0 : mat * bRows;
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double sum = 0, magnitude = 0;
                            for (int p = 0; p < k; p++) {
                                double av = layout == Layout.ATB ? a.get(mat * aRows + p, i) : a.get(mat * aRows + i, p);
                                double bv = layout == Layout.ABT ? b.get(bBase + j, p) : b.get(bBase + p, j);
                                sum += av * bv;
                                magnitude += Math.abs(av * bv);
                            }
                            double old = 0.5 * before[mat * m + i][j];
                            double expected = 0.75 * sum + old;
                            double tolerance = 4 * Math.sqrt(k + 1) * EPS * (0.75 * magnitude + Math.abs(old));
                            double actual = c.get(mat * m + i, j);
                            if (!(Math.abs(actual - expected) <= tolerance)) {
                                fail(describe(kernels, layout, m, n, k, DType.BF16) + " batch " + mat + " sharedB=" + sharedB
                                        + ": C[" + i + "," + j + "] = " + actual + " but the reference is " + expected);
                            }
                        }
                    }
                }
                checkPaddingUntouched(c, kernels + " batched " + layout);
            }
        }
    }

    /** strideC == 0 means every product of the batch updates the same C in turn: with beta = 1, C += Σ A_i·B_i. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void batchedWithZeroCStrideAccumulatesInOrder(Kernels kernels) {
        Random rnd = new Random(8);
        int batch = 4, m = 9, n = 35, k = 20;
        Matrix a = random(rnd, batch * k, m, 0, 0, DType.F32); // ATB: each A_i stored [k x m]
        Matrix b = random(rnd, batch * k, n, 0, 0, DType.F32);
        Matrix c = random(rnd, m, n, 0, 0, DType.F32);
        double[][] before = snapshot(c);
        kernels.gemm().gemmBatched(Layout.ATB, batch, m, n, k, 1f, a.segment, 0, (long) k * m, m,
                b.segment, 0, (long) k * n, n, DType.F32, 1f, c.segment, 0, 0, n);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = before[i][j], magnitude = Math.abs(before[i][j]);
                for (int p = 0; p < batch * k; p++) {
                    sum += a.get(p, i) * b.get(p, j);
                    magnitude += Math.abs(a.get(p, i) * b.get(p, j));
                }
                double tolerance = 4 * Math.sqrt(batch * k + 1) * EPS * magnitude;
                double actual = c.get(i, j);
                if (!(Math.abs(actual - sum) <= tolerance)) {
                    fail(kernels + " strideC=0: C[" + i + "," + j + "] = " + actual + " but the reference is " + sum);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void batchedIsBitwiseEqualToOneGemmPerMatrix(Kernels kernels) {
        Random rnd = new Random(9);
        int batch = 3, m = 70, n = 130, k = 300;
        Matrix a = random(rnd, batch * m, k, 0, 0, DType.F32);
        Matrix b = random(rnd, n, k, 0, 0, DType.F16);
        Matrix batched = random(rnd, batch * m, n, 0, 0, DType.F32);
        Matrix single = random(rnd, batch * m, n, 0, 0, DType.F32);
        kernels.gemm().gemmBatched(Layout.ABT, batch, m, n, k, 1f, a.segment, 0, (long) m * k, k,
                b.segment, 0, 0, k, DType.F16, 0f, batched.segment, 0, (long) m * n, n);
        for (int mat = 0; mat < batch; mat++) {
            kernels.gemm().gemm(Layout.ABT, m, n, k, 1f, a.segment, (long) mat * m * k, k, b.segment, 0, k, DType.F16,
                    0f, single.segment, (long) mat * m * n, n);
        }
        assertBitwiseEqual(single.segment, batched.segment, (long) batch * m * n, kernels + " batched vs single");
    }

    // ---- matvec ---------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matvecMatchesDoubleReference(Kernels kernels) {
        Random rnd = new Random(10);
        for (DType wType : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int[] s : new int[][] {{1, 1}, {1, 1000}, {7, 31}, {33, 33}, {257, 100}, {6, 7}}) {
                int rows = s[0], cols = s[1];
                Matrix w = random(rnd, rows, cols, 5, 3, wType);
                Matrix x = random(rnd, 1, cols, 0, 2, DType.F32);
                Matrix y = random(rnd, 1, rows + 2, 0, 1, DType.F32);
                y.segment.setAtIndex(F32, y.offset + rows, Float.NaN);
                kernels.gemm().matvec(rows, cols, w.segment, w.offset, w.ld, wType, x.segment, x.offset, y.segment, y.offset);
                for (int r = 0; r < rows; r++) {
                    double sum = 0, magnitude = 0;
                    for (int col = 0; col < cols; col++) {
                        sum += w.get(r, col) * x.get(0, col);
                        magnitude += Math.abs(w.get(r, col) * x.get(0, col));
                    }
                    double tolerance = 4 * Math.sqrt(cols + 1) * EPS * magnitude + 1e-30;
                    double actual = y.get(0, r);
                    if (!(Math.abs(actual - sum) <= tolerance)) {
                        fail(kernels + " matvec " + rows + "x" + cols + " W=" + wType + ": y[" + r + "] = " + actual
                                + " but the double reference is " + sum + " (tolerance " + tolerance + ")");
                    }
                }
                assertTrue(Float.isNaN(y.segment.getAtIndex(F32, y.offset + rows)),
                        kernels + " matvec wrote past y[" + (rows - 1) + "]");
            }
        }
    }

    /**
     * matvecs (a decode batch) must give each vector bitwise what matvec gives it alone — on short rows, long
     * rows (the interleaved F32 path from 4096), 16-bit weights, row counts that leave tail rows in a task, and
     * several thread counts — and write nothing past Y. matvec itself is checked against the double reference above.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matvecsEqualsMatvecPerVectorBitwise(Kernels kernels) {
        Random rnd = new Random(12);
        for (DType wType : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int[] s : new int[][] {{1, 1, 5}, {7, 31, 3}, {258, 100, 8}, {9, 4100, 2}, {600, 288, 17}, {12, 768, 3}}) {
                int rows = s[0], cols = s[1], count = s[2];
                Matrix w = random(rnd, rows, cols, 3, 2, wType);
                Matrix x = random(rnd, count, cols, 0, 1, DType.F32);
                for (int threads : new int[] {1, 3}) {
                    ThreadPool.setSharedThreads(threads);
                    MemorySegment batched = arena.allocate((long) count * rows * 4 + 4, 64);
                    batched.setAtIndex(F32, (long) count * rows, Float.NaN);
                    kernels.gemm().matvecs(count, rows, cols, w.segment, w.offset, w.ld, wType, x.segment, x.offset, batched, 0);
                    for (int i = 0; i < count; i++) {
                        MemorySegment alone = arena.allocate(rows * 4L, 64);
                        kernels.gemm().matvec(rows, cols, w.segment, w.offset, w.ld, wType, x.segment, x.offset + (long) i * cols, alone, 0);
                        assertBitwiseEqual(alone, batched.asSlice((long) i * rows * 4), rows,
                                kernels + " matvecs " + rows + "x" + cols + " W=" + wType + " vector " + i + " of " + count
                                        + ", " + threads + " threads");
                    }
                    assertTrue(Float.isNaN(batched.getAtIndex(F32, (long) count * rows)), kernels + " matvecs wrote past Y");
                }
                ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
            }
        }
    }

    /**
     * F16 widening is exact, so an F16 matvec must give bitwise what the F32 matvec gives on the widened weights:
     * short rows widened four at a time (adjacent, one loop; or padded, one loop per row), long rows in chunks, tail
     * rows and tail columns, on one thread and three.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void f16MatvecIsBitwiseTheF32MatvecOfItsWidenedWeights(Kernels kernels) {
        Random rnd = new Random(14);
        for (int[] s : new int[][] {{8, 768, 0}, {13, 1000, 3}, {6, 1024, 0}, {9, 1030, 0}, {5, 2048, 2}, {4, 37, 0}}) {
            int rows = s[0], cols = s[1];
            Matrix half = random(rnd, rows, cols, s[2], 1, DType.F16);
            Matrix wide = random(rnd, rows, cols, s[2], 1, DType.F32);
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) wide.segment.setAtIndex(F32, wide.offset + (long) r * wide.ld + c, (float) half.get(r, c));
            }
            Matrix x = random(rnd, 1, cols, 0, 0, DType.F32);
            for (int threads : new int[] {1, 3}) {
                ThreadPool.setSharedThreads(threads);
                MemorySegment yHalf = arena.allocate(rows * 4L, 64), yWide = arena.allocate(rows * 4L, 64);
                kernels.gemm().matvec(rows, cols, half.segment, half.offset, half.ld, DType.F16, x.segment, x.offset, yHalf, 0);
                kernels.gemm().matvec(rows, cols, wide.segment, wide.offset, wide.ld, DType.F32, x.segment, x.offset, yWide, 0);
                assertBitwiseEqual(yWide, yHalf, rows, kernels + " F16 matvec " + rows + "x" + cols + " (ld " + half.ld + "), " + threads + " threads");
            }
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
    }

    /**
     * The vectorised 16-bit widening must be exact for every class of value: subnormals, the largest finite,
     * infinities and NaN. W holds one special value per row; x is one-hot, so y (and C) must be that value.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void widensSpecialHalfValuesExactly(Kernels kernels) {
        int cols = 64, hot = 37;
        float[] specials = {0x1p-24f, 0x1.ff8p-15f, 65504f, -2.5f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.NaN, 0x1p-133f, 3.0e38f, 1f};
        for (DType type : new DType[] {DType.F16, DType.BF16}) {
            int rows = specials.length;
            MemorySegment w = arena.allocate((long) rows * cols * 2, 64);
            MemorySegment x = arena.allocate(cols * 4L, 64), y = arena.allocate(rows * 4L, 64);
            MemorySegment c = arena.allocate(rows * 4L, 64);
            x.setAtIndex(F32, hot, 1f);
            float[] expected = new float[rows];
            for (int r = 0; r < rows; r++) {
                short bits = Half.fromFloat(type, specials[r]);
                expected[r] = Half.toFloat(type, bits);
                w.setAtIndex(I16, (long) r * cols + hot, bits);
            }
            kernels.gemm().matvec(rows, cols, w, 0, cols, type, x, 0, y, 0);
            // The same product through GEMM: C [1 x rows] = x [1 x cols] · Wᵀ, W stored [rows x cols].
            kernels.gemm().gemm(Layout.ABT, 1, rows, cols, 1f, x, 0, cols, w, 0, cols, type, 0f, c, 0, rows);
            for (int r = 0; r < rows; r++) {
                for (MemorySegment out : new MemorySegment[] {y, c}) {
                    float actual = out.getAtIndex(F32, r);
                    if (!(Float.compare(actual, expected[r]) == 0)) {
                        fail(kernels + " " + type + (out == y ? " matvec" : " gemm ABT") + ": row " + r + " widened "
                                + specials[r] + " (stored as " + expected[r] + ") to " + actual);
                    }
                }
            }
        }
    }

    // ---- determinism ----------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void bitwiseIdenticalForAnyThreadCount(Kernels kernels) {
        Random rnd = new Random(11);
        // 252 M multiply-adds: enough work that SimdGemm cuts C into more tiles for 3 threads than for 1
        int m = 600, n = 700, k = 600;
        for (Layout layout : new Layout[] {Layout.AB, Layout.ABT}) {
            Problem p = new Problem(rnd, layout, m, n, k, DType.BF16, 0, 1f, 0f);
            float[][] results = new float[2][];
            int[] threadCounts = {1, 3};
            for (int t = 0; t < 2; t++) {
                ThreadPool.setSharedThreads(threadCounts[t]);
                p.run(kernels.gemm());
                results[t] = p.c.segment.asSlice(p.c.offset * 4, (long) m * n * 4).toArray(ValueLayout.JAVA_FLOAT);
            }
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
            assertBitwiseEqual(results[0], results[1], kernels + " gemm " + layout + " 1 vs 3 threads");
        }
        Matrix w = random(rnd, 2000, 300, 0, 0, DType.BF16);
        Matrix x = random(rnd, 1, 300, 0, 0, DType.F32);
        float[][] ys = new float[2][2000];
        for (int t = 0; t < 2; t++) {
            ThreadPool.setSharedThreads(t == 0 ? 1 : 3);
            MemorySegment y = arena.allocate(2000 * 4);
            kernels.gemm().matvec(2000, 300, w.segment, 0, 300, DType.BF16, x.segment, 0, y, 0);
            ys[t] = y.toArray(ValueLayout.JAVA_FLOAT);
        }
        ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        assertBitwiseEqual(ys[0], ys[1], kernels + " matvec 1 vs 3 threads");
    }

    private static void assertBitwiseEqual(MemorySegment expected, MemorySegment actual, long count, String what) {
        assertBitwiseEqual(expected.asSlice(0, count * 4).toArray(ValueLayout.JAVA_FLOAT),
                actual.asSlice(0, count * 4).toArray(ValueLayout.JAVA_FLOAT), what);
    }

    private static void assertBitwiseEqual(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + " but was " + expected[i]);
            }
        }
    }

    // ---- bad input ------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rejectsSegmentsTooSmallAndBadSizes(Kernels kernels) {
        Gemm g = kernels.gemm();
        MemorySegment a = arena.allocate(4L * 10 * 20), b = arena.allocate(4L * 20 * 40), c = arena.allocate(4L * 10 * 30);
        expectMessage("C [10 x 31]", () -> g.gemm(Layout.AB, 10, 31, 20, 1f, a, 0, 20, b, 0, 31, DType.F32, 0f, c, 0, 31));
        expectMessage("A [10 x 20]", () -> g.gemm(Layout.AB, 10, 30, 20, 1f, a, 1, 20, b, 0, 30, DType.F32, 0f, c, 0, 30));
        expectMessage("B [30 x 20]", () -> g.gemm(Layout.ABT, 10, 30, 20, 1f, a, 0, 20, b, 201, 20, DType.F32, 0f, c, 0, 30));
        expectMessage("leading dimension of A is 19", () -> g.gemm(Layout.AB, 10, 30, 20, 1f, a, 0, 19, b, 0, 30, DType.F32, 0f, c, 0, 30));
        expectMessage("m=-1", () -> g.gemm(Layout.AB, -1, 30, 20, 1f, a, 0, 20, b, 0, 30, DType.F32, 0f, c, 0, 30));
        expectMessage("B must be F32, BF16, F16 or Q8_0, got I8", () -> g.gemm(Layout.AB, 10, 30, 20, 1f, a, 0, 20, b, 0, 30, DType.I8, 0f, c, 0, 30));
        expectMessage("C [10 x 30]", () -> g.gemmBatched(Layout.AB, 2, 10, 30, 20, 1f, a, 0, 0, 20, b, 0, 0, 30, DType.F32,
                0f, c, 0, 300, 30));
        expectMessage("W [10 x 30]", () -> g.matvec(10, 30, a, 0, 30, DType.F32, b, 0, c, 0));
        expectMessage("x [1 x 30]", () -> g.matvec(10, 30, b, 0, 30, DType.F32, a, 180, c, 0));
    }

    private static void expectMessage(String fragment, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains(fragment), () -> "message \"" + e.getMessage() + "\" lacks \"" + fragment + "\"");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void emptyProductsTouchNothing(Kernels kernels) {
        MemorySegment one = arena.allocate(4);
        one.set(ValueLayout.JAVA_FLOAT, 0, 42f);
        kernels.gemm().gemm(Layout.AB, 0, 1, 1, 1f, one, 0, 1, one, 0, 1, DType.F32, 0f, one, 0, 1);
        kernels.gemm().gemm(Layout.ABT, 1, 0, 1, 1f, one, 0, 1, one, 0, 1, DType.F32, 0f, one, 0, 0);
        assertEquals(42f, one.get(ValueLayout.JAVA_FLOAT, 0), kernels + " touched C of an empty product");
    }
}
