package dev.retort.tensor.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Argument checks shared by every {@link Attention} implementation, so that the scalar and SIMD kernels reject
 * the same bad input with the same message. All sizes are in F32 elements; see {@link Attention} for layouts.
 */
public final class AttentionArgs {
    private AttentionArgs() {}

    /** Checks the shape arguments of a forward call and that every segment is large enough. */
    public static void checkForward(int batch, int tq, int qStart, int heads, int kvHeads, int headDim,
                                    MemorySegment q, long qOffset,
                                    MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride,
                                    MemorySegment out, long outOffset, MemorySegment lse, long lseOffset) {
        checkShape(batch, tq, qStart, heads, kvHeads, headDim, kvBatchStride);
        long queryElements = (long) batch * tq * heads * headDim;
        long kvElements = kvElements(batch, qStart + tq, kvHeads, headDim, kvBatchStride);
        checkSegment("q", q, qOffset, queryElements);
        checkSegment("k", k, kOffset, kvElements);
        checkSegment("v", v, vOffset, kvElements);
        checkSegment("out", out, outOffset, queryElements);
        if (lse != null) checkSegment("lse", lse, lseOffset, (long) batch * heads * tq);
    }

    /** Checks the arguments of a backward call (qStart = 0: the keys are the tq queries' own positions). */
    public static void checkBackward(int batch, int tq, int heads, int kvHeads, int headDim,
                                     MemorySegment q, long qOffset,
                                     MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride,
                                     MemorySegment out, long outOffset, MemorySegment lse, long lseOffset,
                                     MemorySegment dout, long doutOffset,
                                     MemorySegment dq, long dqOffset,
                                     MemorySegment dk, long dkOffset, MemorySegment dv, long dvOffset) {
        checkShape(batch, tq, 0, heads, kvHeads, headDim, kvBatchStride);
        long queryElements = (long) batch * tq * heads * headDim;
        long kvElements = kvElements(batch, tq, kvHeads, headDim, kvBatchStride);
        checkSegment("q", q, qOffset, queryElements);
        checkSegment("k", k, kOffset, kvElements);
        checkSegment("v", v, vOffset, kvElements);
        checkSegment("out", out, outOffset, queryElements);
        checkSegment("lse", lse, lseOffset, (long) batch * heads * tq);
        checkSegment("dout", dout, doutOffset, queryElements);
        checkSegment("dq", dq, dqOffset, queryElements);
        checkSegment("dk", dk, dkOffset, kvElements);
        checkSegment("dv", dv, dvOffset, kvElements);
    }

    private static void checkShape(int batch, int tq, int qStart, int heads, int kvHeads, int headDim,
                                   long kvBatchStride) {
        if (batch < 0) throw new IllegalArgumentException("batch must be >= 0, got " + batch);
        if (tq < 0) throw new IllegalArgumentException("tq (query count) must be >= 0, got " + tq);
        if (qStart < 0) throw new IllegalArgumentException("qStart must be >= 0, got " + qStart);
        if (headDim < 1) throw new IllegalArgumentException("headDim must be >= 1, got " + headDim);
        if (kvHeads < 1) throw new IllegalArgumentException("kvHeads must be >= 1, got " + kvHeads);
        if (heads < kvHeads || heads % kvHeads != 0) {
            throw new IllegalArgumentException("heads (" + heads + ") must be a positive multiple of kvHeads ("
                    + kvHeads + ")");
        }
        long rowsPerBatch = (qStart + (long) tq) * kvHeads * headDim;
        if (batch > 1 && kvBatchStride < rowsPerBatch) {
            throw new IllegalArgumentException("kvBatchStride " + kvBatchStride + " is smaller than one batch's "
                    + (qStart + (long) tq) + " positions x " + kvHeads + " kv heads x " + headDim + " = " + rowsPerBatch);
        }
    }

    private static long kvElements(int batch, int positions, int kvHeads, int headDim, long kvBatchStride) {
        if (batch == 0 || positions == 0) return 0;
        return (batch - 1) * kvBatchStride + (long) positions * kvHeads * headDim;
    }

    private static void checkSegment(String name, MemorySegment segment, long offset, long elements) {
        if (offset < 0) throw new IllegalArgumentException(name + " offset must be >= 0, got " + offset);
        if (elements == 0) return;
        if (segment == null) throw new IllegalArgumentException(name + " is null");
        long needed = (offset + elements) * Float.BYTES;
        if (segment.byteSize() < needed) {
            throw new IllegalArgumentException(name + " segment of " + segment.byteSize() + " bytes is too small: "
                    + elements + " floats at offset " + offset + " need " + needed + " bytes");
        }
    }
}
