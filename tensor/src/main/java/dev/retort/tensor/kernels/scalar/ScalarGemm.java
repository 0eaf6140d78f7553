package dev.retort.tensor.kernels.scalar;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.GemmArguments;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java GEMM and matvec: the fallback for JVMs without the Vector API, written for clarity first.
 *
 * <p>Each task owns a block of rows of C. A row of C is accumulated in a float[] row buffer with the loop order
 * i-p-j (for AB and ATB: the innermost loop runs along a row of B and of C, so both are read sequentially) or
 * as dot products along k (ABT, where both A and B rows are contiguous in k). The K loop always runs from 0 to
 * k in order, so results do not depend on the number of threads.
 */
public final class ScalarGemm implements Gemm {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** Multiply-adds per task below which a problem is not split: keeps small products on the calling thread. */
    private static final long GRAIN = 1 << 18;

    @Override
    public void gemm(Layout layout, int m, int n, int k, float alpha,
                     MemorySegment a, long aOffset, int lda,
                     MemorySegment b, long bOffset, int ldb, DType bType,
                     float beta,
                     MemorySegment c, long cOffset, int ldc) {
        GemmArguments.checkGemm(layout, m, n, k, a, aOffset, lda, b, bOffset, ldb, bType, c, cOffset, ldc);
        if (m == 0 || n == 0) return;
        int tasks = ThreadPool.tasksFor((long) m * n * Math.max(k, 1), GRAIN, m);
        int rowsPerTask = (m + tasks - 1) / tasks;
        ThreadPool.shared().parallelFor(tasks, t -> {
            int from = t * rowsPerTask, to = Math.min(m, from + rowsPerTask);
            float[] row = new float[n];
            float[] bRow = new float[layout == Layout.ABT ? k : n];
            for (int i = from; i < to; i++) {
                java.util.Arrays.fill(row, 0f);
                if (k > 0 && alpha != 0f) accumulateRow(layout, i, n, k, a, aOffset, lda, b, bOffset, ldb, bType, row, bRow);
                for (int j = 0; j < n; j++) {
                    long at = cOffset + (long) i * ldc + j;
                    float product = alpha * row[j];
                    // beta == 0 overwrites: a NaN already in C must not survive.
                    c.setAtIndex(F32, at, beta == 0f ? product : product + beta * c.getAtIndex(F32, at));
                }
            }
        });
    }

    /** row[j] = sum over p of op(A)[i,p] * op(B)[p,j], p ascending. */
    private static void accumulateRow(Layout layout, int i, int n, int k,
                                      MemorySegment a, long aOffset, int lda,
                                      MemorySegment b, long bOffset, int ldb, DType bType,
                                      float[] row, float[] bRow) {
        switch (layout) {
            case AB, ATB -> {
                for (int p = 0; p < k; p++) {
                    long aAt = layout == Layout.AB ? aOffset + (long) i * lda + p : aOffset + (long) p * lda + i;
                    float aip = a.getAtIndex(F32, aAt);
                    readRow(b, bOffset + (long) p * ldb, n, bType, bRow);
                    for (int j = 0; j < n; j++) row[j] += aip * bRow[j];
                }
            }
            case ABT -> {
                long aRow = aOffset + (long) i * lda;
                for (int j = 0; j < n; j++) {
                    readRow(b, bOffset + (long) j * ldb, k, bType, bRow);
                    float sum = 0f;
                    for (int p = 0; p < k; p++) sum += a.getAtIndex(F32, aRow + p) * bRow[p];
                    row[j] = sum;
                }
            }
        }
    }

    /** Widens {@code count} consecutive elements of {@code type} starting at element {@code at} into out. */
    private static void readRow(MemorySegment s, long at, int count, DType type, float[] out) {
        switch (type) {
            case F32 -> MemorySegment.copy(s, F32, at * 4, out, 0, count);
            case BF16 -> { for (int q = 0; q < count; q++) out[q] = Half.bf16ToFloat(s.getAtIndex(I16, at + q)); }
            case F16 -> { for (int q = 0; q < count; q++) out[q] = Half.f16ToFloat(s.getAtIndex(I16, at + q)); }
            case Q8_0 -> Q8Block.dequantize(s, at, count, out, 0);
            default -> throw new IllegalArgumentException("unsupported B/W type " + type);
        }
    }

    @Override
    public void gemmBatched(Layout layout, int batch, int m, int n, int k, float alpha,
                            MemorySegment a, long aOffset, long strideA, int lda,
                            MemorySegment b, long bOffset, long strideB, int ldb, DType bType,
                            float beta,
                            MemorySegment c, long cOffset, long strideC, int ldc) {
        GemmArguments.checkBatched(layout, batch, m, n, k, a, aOffset, strideA, lda, b, bOffset, strideB, ldb, bType,
                c, cOffset, strideC, ldc);
        // One product after another: each is parallel inside, and with strideC == 0 they must run in order.
        Gemm.super.gemmBatched(layout, batch, m, n, k, alpha, a, aOffset, strideA, lda, b, bOffset, strideB, ldb,
                bType, beta, c, cOffset, strideC, ldc);
    }

    @Override
    public void matvec(int rows, int cols,
                       MemorySegment w, long wOffset, int ldw, DType wType,
                       MemorySegment x, long xOffset,
                       MemorySegment y, long yOffset) {
        GemmArguments.checkMatvec(rows, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset);
        if (rows == 0) return;
        float[] xs = new float[cols];
        MemorySegment.copy(x, F32, xOffset * 4, xs, 0, cols);
        int tasks = ThreadPool.tasksFor((long) rows * Math.max(cols, 1), GRAIN, rows);
        int rowsPerTask = (rows + tasks - 1) / tasks;
        ThreadPool.shared().parallelFor(tasks, t -> {
            float[] wRow = new float[cols];
            for (int r = t * rowsPerTask; r < Math.min(rows, (t + 1) * rowsPerTask); r++) {
                float sum;
                if (wType == DType.Q8_0) {
                    sum = q8RowDot(w, wOffset + (long) r * ldw, cols, xs);
                } else {
                    readRow(w, wOffset + (long) r * ldw, cols, wType, wRow);
                    sum = 0f;
                    for (int q = 0; q < cols; q++) sum += wRow[q] * xs[q];
                }
                y.setAtIndex(F32, yOffset + r, sum);
            }
        });
    }

    /**
     * One Q8_0 row (starting at element {@code at}, cols a multiple of 32) times x: per block the int8 values
     * times x summed in order, then scaled by the block's d and added, blocks in order. The SIMD kernel's
     * arithmetic (simd/Q8Matvec) without its lanes.
     */
    private static float q8RowDot(MemorySegment w, long at, int cols, float[] xs) {
        long block = Q8Block.blockAt(at);
        float sum = 0f;
        for (int b = 0; b < cols / Q8Block.BLOCK; b++, block += Q8Block.BYTES) {
            float t = 0f;
            for (int j = 0; j < Q8Block.BLOCK; j++) t += w.get(ValueLayout.JAVA_BYTE, block + 2 + j) * xs[b * Q8Block.BLOCK + j];
            sum += t * Q8Block.scale(w, block);
        }
        return sum;
    }
}
