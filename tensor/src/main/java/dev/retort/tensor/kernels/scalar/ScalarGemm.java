package dev.retort.tensor.kernels.scalar;

import dev.retort.tensor.DType;
import dev.retort.tensor.kernels.Gemm;
import java.lang.foreign.MemorySegment;

/** Placeholder until the gemm kernels land; every method throws. */
public final class ScalarGemm implements Gemm {
    @Override public void gemm(Layout layout, int m, int n, int k, float alpha, MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb, DType bType, float beta, MemorySegment c, long cOffset, int ldc) { throw new UnsupportedOperationException("ScalarGemm.gemm not implemented yet"); }
    @Override public void matvec(int rows, int cols, MemorySegment w, long wOffset, int ldw, DType wType, MemorySegment x, long xOffset, MemorySegment y, long yOffset) { throw new UnsupportedOperationException("ScalarGemm.matvec not implemented yet"); }
}
