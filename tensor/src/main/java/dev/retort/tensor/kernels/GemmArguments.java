package dev.retort.tensor.kernels;

import dev.retort.tensor.DType;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.MemorySegment;

/**
 * Argument checks shared by every {@link dev.retort.tensor.kernels.Gemm} implementation (the SIMD copies call
 * these too), so that bad sizes fail the same way whichever kernels run: with an IllegalArgumentException that
 * names the operand, the value and what was expected, before any element is touched.
 */
public final class GemmArguments {
    private GemmArguments() {}

    /** Checks sizes, types, leading dimensions and that each stored matrix fits its segment. */
    public static void checkGemm(Layout layout, int m, int n, int k,
                                 MemorySegment a, long aOffset, int lda,
                                 MemorySegment b, long bOffset, int ldb, DType bType,
                                 MemorySegment c, long cOffset, int ldc) {
        if (layout == null) throw new IllegalArgumentException("gemm layout is null");
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("gemm sizes must be >= 0, got m=" + m + ", n=" + n + ", k=" + k);
        }
        checkFloatType("B", bType);
        // Stored shapes: A is [m x k] (AB, ABT) or [k x m] (ATB); B is [k x n] (AB, ATB) or [n x k] (ABT).
        boolean aTransposed = layout == Layout.ATB;
        boolean bTransposed = layout == Layout.ABT;
        checkMatrix("A", a, aOffset, lda, aTransposed ? k : m, aTransposed ? m : k, DType.F32);
        checkMatrix("B", b, bOffset, ldb, bTransposed ? n : k, bTransposed ? k : n, bType);
        checkMatrix("C", c, cOffset, ldc, m, n, DType.F32);
    }

    /** Checks a matvec: W stored [rows x cols] with row stride ldw, x [cols], y [rows]. */
    public static void checkMatvec(int rows, int cols, MemorySegment w, long wOffset, int ldw, DType wType,
                                   MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("matvec sizes must be >= 0, got rows=" + rows + ", cols=" + cols);
        }
        checkFloatType("W", wType);
        checkMatrix("W", w, wOffset, ldw, rows, cols, wType);
        checkMatrix("x", x, xOffset, cols, 1, cols, DType.F32);
        checkMatrix("y", y, yOffset, rows, 1, rows, DType.F32);
    }

    /** Checks {@code count} matrix-vector products: W as for matvec, X [count × cols] and Y [count × rows], contiguous. */
    public static void checkMatvecs(int count, int rows, int cols, MemorySegment w, long wOffset, int ldw, DType wType,
                                    MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        if (count < 0) throw new IllegalArgumentException("matvecs count must be >= 0, got " + count);
        checkMatvec(rows, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset);
        checkMatrix("X", x, xOffset, cols, count, cols, DType.F32);
        checkMatrix("Y", y, yOffset, rows, count, rows, DType.F32);
    }

    /** Checks a batched GEMM: every matrix of the batch must fit, and strides must be >= 0. */
    public static void checkBatched(Layout layout, int batch, int m, int n, int k,
                                    MemorySegment a, long aOffset, long strideA, int lda,
                                    MemorySegment b, long bOffset, long strideB, int ldb, DType bType,
                                    MemorySegment c, long cOffset, long strideC, int ldc) {
        if (batch < 0) throw new IllegalArgumentException("batch must be >= 0, got " + batch);
        if (strideA < 0 || strideB < 0 || strideC < 0) {
            throw new IllegalArgumentException("batch strides must be >= 0, got strideA=" + strideA
                    + ", strideB=" + strideB + ", strideC=" + strideC);
        }
        if (batch == 0) {
            checkGemm(layout, m, n, k, a, aOffset, lda, b, bOffset, ldb, bType, c, cOffset, ldc);
            return;
        }
        long last = batch - 1L;
        // The first and the last matrix bound all others, since strides are non-negative.
        checkGemm(layout, m, n, k, a, aOffset, lda, b, bOffset, ldb, bType, c, cOffset, ldc);
        checkGemm(layout, m, n, k, a, aOffset + last * strideA, lda, b, bOffset + last * strideB, ldb, bType,
                c, cOffset + last * strideC, ldc);
    }

    private static void checkFloatType(String name, DType type) {
        if (type != DType.F32 && type != DType.BF16 && type != DType.F16 && type != DType.Q8_0) {
            throw new IllegalArgumentException(name + " must be F32, BF16, F16 or Q8_0, got " + type);
        }
    }

    /**
     * A row-major [rows x cols] matrix of {@code type} with row stride ld (elements) starting at element offset.
     * Q8_0 rows must start on a block: offset, ld and (with more than one row) cols multiples of 32.
     */
    private static void checkMatrix(String name, MemorySegment segment, long offset, int ld, int rows, int cols,
                                    DType type) {
        if (segment == null) throw new IllegalArgumentException(name + " segment is null");
        if (offset < 0) throw new IllegalArgumentException(name + " offset must be >= 0, got " + offset);
        if (rows > 1 && ld < cols || ld < 0) {
            throw new IllegalArgumentException("leading dimension of " + name + " is " + ld
                    + " but its rows hold " + cols + " elements");
        }
        if (type == DType.Q8_0 && (offset % Q8Block.BLOCK != 0 || ld % Q8Block.BLOCK != 0 || cols % Q8Block.BLOCK != 0)) {
            throw new IllegalArgumentException(name + " is Q8_0, so its offset (" + offset + "), leading dimension (" + ld
                    + ") and row length (" + cols + ") must be multiples of " + Q8Block.BLOCK);
        }
        if (rows == 0 || cols == 0) return;
        long lastElement = offset + (long) (rows - 1) * ld + cols; // one past the last element read or written
        long needed = type.byteSize(lastElement);
        if (needed > segment.byteSize()) {
            throw new IllegalArgumentException(name + " [" + rows + " x " + cols + "] with leading dimension " + ld
                    + " at element offset " + offset + " needs " + needed + " bytes but its segment has "
                    + segment.byteSize());
        }
    }
}
