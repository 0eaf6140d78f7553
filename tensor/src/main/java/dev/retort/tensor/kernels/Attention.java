package dev.retort.tensor.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Causal self-attention with grouped-query heads, computed flash-style: keys are visited in blocks with an
 * online softmax, so no [T×T] score matrix is ever materialised.
 *
 * <p>Layouts (F32, offsets in elements), B = batch, H = query heads, G = key/value heads (H a multiple of G,
 * query head h reads kv head h / (H/G)), D = head dim:
 * <ul>
 *   <li>q, out, dq, dout: [B × Tq × H × D] contiguous (what a Q projection of [B·T × H·D] gives);
 *   <li>k, v, dk, dv: [B × capacity × G × D]: batch b starts at {@code b·kvBatchStride}; only the first
 *       {@code qStart + Tq} positions are read (a KV cache of any capacity works);
 *   <li>lse: [B × H × Tq], the log-sum-exp of each query's scaled scores, saved for the backward pass.
 * </ul>
 * Query i sits at absolute position {@code qStart + i} and attends to keys 0..qStart+i inclusive. Training uses
 * qStart = 0; decoding one token uses Tq = 1, qStart = the number of cached tokens.
 */
public interface Attention {

    /** out = softmax(scale · q·kᵀ + causal mask)·v; writes lse unless it is null. */
    void forward(int batch, int tq, int qStart, int heads, int kvHeads, int headDim, float scale,
                 MemorySegment q, long qOffset,
                 MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride,
                 MemorySegment out, long outOffset,
                 MemorySegment lse, long lseOffset);

    /**
     * Backward of {@link #forward} (qStart = 0, keys = the tq queries' own positions): given out, lse and dout,
     * accumulates dq += …, dk += …, dv += … (dk and dv summed over the query heads that share a kv head).
     * Recomputes the probabilities block by block from lse; deterministic for any thread count.
     */
    void backward(int batch, int tq, int heads, int kvHeads, int headDim, float scale,
                  MemorySegment q, long qOffset,
                  MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride,
                  MemorySegment out, long outOffset, MemorySegment lse, long lseOffset,
                  MemorySegment dout, long doutOffset,
                  MemorySegment dq, long dqOffset,
                  MemorySegment dk, long dkOffset, MemorySegment dv, long dvOffset);
}
