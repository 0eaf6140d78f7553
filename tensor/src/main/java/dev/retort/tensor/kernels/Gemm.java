package dev.retort.tensor.kernels;

import dev.retort.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * Matrix multiplication kernels. All matrices are row-major; offsets are in elements of the matrix's own type;
 * {@code ld*} is the row stride in elements. A and C are always F32; B may be F32, BF16 or F16 (frozen weights
 * stay in their stored type and are widened a packed panel at a time, never as a whole).
 *
 * <p>Determinism: every element of C is computed by one task with a K loop order that does not depend on the
 * thread count, so results are bitwise identical for any number of threads.
 */
public interface Gemm {

    /** Which operands are transposed. Shapes are the logical op(A) = [M×K], op(B) = [K×N], C = [M×N]. */
    enum Layout {
        /** C = A·B: A stored [M×K], B stored [K×N]. (Backward dX = dY·W.) */
        AB,
        /** C = A·Bᵀ: A stored [M×K], B stored [N×K]. (Forward Y = X·Wᵀ with a torch Linear weight [out×in].) */
        ABT,
        /** C = Aᵀ·B: A stored [K×M], B stored [K×N]. (Backward dW = dYᵀ·X.) */
        ATB
    }

    /**
     * C = alpha · op(A)·op(B) + beta · C. With {@code beta == 0} C is overwritten (NaNs in C do not propagate).
     */
    void gemm(Layout layout, int m, int n, int k, float alpha,
              MemorySegment a, long aOffset, int lda,
              MemorySegment b, long bOffset, int ldb, DType bType,
              float beta,
              MemorySegment c, long cOffset, int ldc);

    /**
     * {@code batch} independent GEMMs; matrix {@code i} starts {@code i * stride*} elements after the offset of
     * the first. A stride of 0 shares one matrix across the batch (for example one weight for every sequence).
     */
    default void gemmBatched(Layout layout, int batch, int m, int n, int k, float alpha,
                             MemorySegment a, long aOffset, long strideA, int lda,
                             MemorySegment b, long bOffset, long strideB, int ldb, DType bType,
                             float beta,
                             MemorySegment c, long cOffset, long strideC, int ldc) {
        for (int i = 0; i < batch; i++) {
            gemm(layout, m, n, k, alpha, a, aOffset + i * strideA, lda, b, bOffset + i * strideB, ldb, bType,
                    beta, c, cOffset + i * strideC, ldc);
        }
    }

    /**
     * Matrix-vector product y = W·x (y overwritten): W stored [rows×cols] with row stride {@code ldw} and type
     * {@code wType} (F32, BF16 or F16); x is F32 [cols]; y is F32 [rows]. The decode path: one token through a
     * Linear layer, bounded by the bandwidth of reading W.
     */
    void matvec(int rows, int cols,
                MemorySegment w, long wOffset, int ldw, DType wType,
                MemorySegment x, long xOffset,
                MemorySegment y, long yOffset);

    /**
     * {@code count} matrix-vector products with one W: Y[i] = W·X[i] for i &lt; count, X F32 [count × cols] and Y
     * F32 [count × rows], rows contiguous. Each Y[i] is bitwise what {@link #matvec} gives for X[i] alone, so a
     * batch of sequences decoded together produces exactly the tokens each would alone. The decode path of a
     * batch: implementations read W from memory once for all the vectors (count tokens for one weight stream).
     * This default, the scalar twin, simply calls {@link #matvec} per vector.
     */
    default void matvecs(int count, int rows, int cols,
                         MemorySegment w, long wOffset, int ldw, DType wType,
                         MemorySegment x, long xOffset,
                         MemorySegment y, long yOffset) {
        GemmArguments.checkMatvecs(count, rows, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset);
        for (int i = 0; i < count; i++) {
            matvec(rows, cols, w, wOffset, ldw, wType, x, xOffset + (long) i * cols, y, yOffset + (long) i * rows);
        }
    }
}
