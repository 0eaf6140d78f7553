package dev.retort.tensor.kernels.simd;

import dev.retort.tensor.DType;
import dev.retort.tensor.kernels.Attention;
import java.lang.foreign.MemorySegment;

/** Placeholder until the attention kernels land; every method throws. */
public final class SimdAttention implements Attention {
    @Override public void forward(int batch, int tq, int qStart, int heads, int kvHeads, int headDim, float scale, MemorySegment q, long qOffset, MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride, MemorySegment out, long outOffset, MemorySegment lse, long lseOffset) { throw new UnsupportedOperationException("SimdAttention.forward not implemented yet"); }
    @Override public void backward(int batch, int tq, int heads, int kvHeads, int headDim, float scale, MemorySegment q, long qOffset, MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride, MemorySegment out, long outOffset, MemorySegment lse, long lseOffset, MemorySegment dout, long doutOffset, MemorySegment dq, long dqOffset, MemorySegment dk, long dkOffset, MemorySegment dv, long dvOffset) { throw new UnsupportedOperationException("SimdAttention.backward not implemented yet"); }
}
