package dev.retort.tensor.kernels.scalar;

import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Attention;
import dev.retort.tensor.kernels.AttentionArgs;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Plain-Java flash attention: the fallback for JVMs without the Vector API, and a second, independent
 * implementation of the algorithm the SIMD kernel uses. Same blocking, same online softmax, no [T×T] matrix.
 *
 * <p>Work decomposition (forward): a unit is (batch b, kv head g, block of {@link #QUERY_BLOCK} queries); it
 * computes the rows of all H/G query heads that share kv head g, so each K/V block is read from memory once
 * and then served from cache to every head of the group. Backward: a unit is (b, g) and owns dk/dv of kv head g
 * and dq of its query heads, so nothing is written by two tasks and the loop order inside is fixed.
 */
public final class ScalarAttention implements Attention {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Queries per forward tile: with H/G heads per group the tile has ratio·32 rows sharing one K/V block. */
    static final int QUERY_BLOCK = 32;
    /** Keys per block: 64 keys × D ≤ 128 floats of K and of V (≤ 64 KiB together) stay in L2 across the rows. */
    static final int KEY_BLOCK = 64;
    /** Multiply-adds a task should have at least, so that small problems stay on the calling thread. */
    static final long GRAIN = 1 << 18;

    // ---- forward ---------------------------------------------------------------------------------------

    @Override
    public void forward(int batch, int tq, int qStart, int heads, int kvHeads, int headDim, float scale,
                        MemorySegment q, long qOffset,
                        MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride,
                        MemorySegment out, long outOffset,
                        MemorySegment lse, long lseOffset) {
        AttentionArgs.checkForward(batch, tq, qStart, heads, kvHeads, headDim, q, qOffset, k, kOffset, v, vOffset,
                kvBatchStride, out, outOffset, lse, lseOffset);
        if (batch == 0 || tq == 0) return;
        int ratio = heads / kvHeads;
        int queryBlocks = (tq + QUERY_BLOCK - 1) / QUERY_BLOCK;
        int units = batch * kvHeads * queryBlocks;
        // Work = Σ over queries of the keys each one sees, times heads and D (two multiply-adds per key and dim).
        long work = 2L * batch * heads * headDim * ((long) tq * qStart + (long) tq * (tq + 1) / 2);
        int tasks = ThreadPool.tasksFor(work, GRAIN, units);
        ThreadPool.shared().parallelFor(tasks, task -> {
            int rows = ratio * Math.min(QUERY_BLOCK, tq);
            float[] max = new float[rows];
            float[] sum = new float[rows];
            float[] acc = new float[rows * headDim];
            float[] scores = new float[KEY_BLOCK];
            for (int unit = firstUnit(task, tasks, units); unit < firstUnit(task + 1, tasks, units); unit++) {
                int qBlock = unit % queryBlocks;
                int g = unit / queryBlocks % kvHeads;
                int b = unit / queryBlocks / kvHeads;
                forwardTile(b, g, qBlock * QUERY_BLOCK, Math.min(tq, (qBlock + 1) * QUERY_BLOCK), tq, qStart,
                        heads, kvHeads, headDim, scale, q, qOffset, k, kOffset + b * kvBatchStride,
                        v, vOffset + b * kvBatchStride, out, outOffset, lse, lseOffset, max, sum, acc, scores);
            }
        });
    }

    /** Units [first(task), first(task+1)) go to one task: an even split that depends only on the problem. */
    static int firstUnit(int task, int tasks, int units) {
        return (int) ((long) task * units / tasks);
    }

    /**
     * Queries i0..i1 of batch b for the query heads of kv head g. kBase/vBase point at batch b's position 0.
     * Tile row r = hr·n + (i − i0) for head g·ratio + hr, n = i1 − i0.
     */
    private static void forwardTile(int b, int g, int i0, int i1, int tq, int qStart, int heads, int kvHeads,
                                    int headDim, float scale, MemorySegment q, long qOffset,
                                    MemorySegment k, long kBase, MemorySegment v, long vBase,
                                    MemorySegment out, long outOffset, MemorySegment lse, long lseOffset,
                                    float[] max, float[] sum, float[] acc, float[] scores) {
        int ratio = heads / kvHeads;
        int n = i1 - i0;
        int rows = ratio * n;
        long keyStride = (long) kvHeads * headDim;
        Arrays.fill(max, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0, rows, 0f);
        Arrays.fill(acc, 0, rows * headDim, 0f);
        int keyEnd = qStart + i1; // exclusive: the last query of the tile sees keys up to qStart + i1 - 1
        for (int j0 = 0; j0 < keyEnd; j0 += KEY_BLOCK) {
            int j1 = Math.min(j0 + KEY_BLOCK, keyEnd);
            for (int r = 0; r < rows; r++) {
                int hr = r / n, i = i0 + r % n;
                int visible = Math.min(j1, qStart + i + 1) - j0; // causal: keys 0..qStart+i
                if (visible <= 0) continue;
                long qRow = qOffset + (((long) b * tq + i) * heads + (long) g * ratio + hr) * headDim;
                float blockMax = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < visible; j++) {
                    long kRow = kBase + (j0 + j) * keyStride + (long) g * headDim;
                    float dot = 0f;
                    for (int d = 0; d < headDim; d++) dot += q.getAtIndex(F32, qRow + d) * k.getAtIndex(F32, kRow + d);
                    scores[j] = dot * scale;
                    blockMax = Math.max(blockMax, scores[j]);
                }
                // Online softmax: rescale what was accumulated under the old max to the new one.
                float newMax = Math.max(max[r], blockMax);
                float correction = (float) Math.exp(max[r] - newMax);
                float blockSum = 0f;
                for (int j = 0; j < visible; j++) {
                    scores[j] = (float) Math.exp(scores[j] - newMax);
                    blockSum += scores[j];
                }
                sum[r] = sum[r] * correction + blockSum;
                max[r] = newMax;
                int a = r * headDim;
                for (int d = 0; d < headDim; d++) acc[a + d] *= correction;
                for (int j = 0; j < visible; j++) {
                    long vRow = vBase + (j0 + j) * keyStride + (long) g * headDim;
                    float p = scores[j];
                    for (int d = 0; d < headDim; d++) acc[a + d] += p * v.getAtIndex(F32, vRow + d);
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            int hr = r / n, i = i0 + r % n, h = g * ratio + hr;
            long outRow = outOffset + (((long) b * tq + i) * heads + h) * headDim;
            float inverse = 1f / sum[r];
            for (int d = 0; d < headDim; d++) out.setAtIndex(F32, outRow + d, acc[r * headDim + d] * inverse);
            if (lse != null) {
                lse.setAtIndex(F32, lseOffset + ((long) b * heads + h) * tq + i, max[r] + (float) Math.log(sum[r]));
            }
        }
    }

    // ---- backward --------------------------------------------------------------------------------------

    /**
     * FlashAttention-2 backward for one (b, g) per unit. For each key block j (outer) and each query block i
     * that can see it: P = exp(scale·q·kᵀ − lse), dP = dO·vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ out)); then
     * dV_j += Pᵀ·dO, dK_j += scale·dSᵀ·Q (summed over the group's heads) and dQ_i += scale·dS·K_j.
     */
    @Override
    public void backward(int batch, int tq, int heads, int kvHeads, int headDim, float scale,
                         MemorySegment q, long qOffset,
                         MemorySegment k, long kOffset, MemorySegment v, long vOffset, long kvBatchStride,
                         MemorySegment out, long outOffset, MemorySegment lse, long lseOffset,
                         MemorySegment dout, long doutOffset,
                         MemorySegment dq, long dqOffset,
                         MemorySegment dk, long dkOffset, MemorySegment dv, long dvOffset) {
        AttentionArgs.checkBackward(batch, tq, heads, kvHeads, headDim, q, qOffset, k, kOffset, v, vOffset,
                kvBatchStride, out, outOffset, lse, lseOffset, dout, doutOffset, dq, dqOffset, dk, dkOffset,
                dv, dvOffset);
        if (batch == 0 || tq == 0) return;
        int units = batch * kvHeads;
        long work = 5L * batch * heads * headDim * ((long) tq * (tq + 1) / 2);
        int tasks = ThreadPool.tasksFor(work, GRAIN, units);
        ThreadPool.shared().parallelFor(tasks, task -> {
            int ratio = heads / kvHeads;
            float[] rowDot = new float[ratio * tq];               // D_i = rowsum(dO_i ⊙ out_i), per head of the group
            float[] probs = new float[QUERY_BLOCK * KEY_BLOCK];   // P tile [queries × keys]
            float[] dScores = new float[QUERY_BLOCK * KEY_BLOCK]; // dS tile
            float[] dkBlock = new float[KEY_BLOCK * headDim];
            float[] dvBlock = new float[KEY_BLOCK * headDim];
            for (int unit = firstUnit(task, tasks, units); unit < firstUnit(task + 1, tasks, units); unit++) {
                int g = unit % kvHeads, b = unit / kvHeads;
                backwardGroup(b, g, tq, heads, kvHeads, headDim, scale, q, qOffset, k, kOffset + b * kvBatchStride,
                        v, vOffset + b * kvBatchStride, out, outOffset, lse, lseOffset, dout, doutOffset, dq, dqOffset,
                        dk, dkOffset + b * kvBatchStride, dv, dvOffset + b * kvBatchStride,
                        rowDot, probs, dScores, dkBlock, dvBlock);
            }
        });
    }

    private static void backwardGroup(int b, int g, int tq, int heads, int kvHeads, int headDim, float scale,
                                      MemorySegment q, long qOffset, MemorySegment k, long kBase,
                                      MemorySegment v, long vBase, MemorySegment out, long outOffset,
                                      MemorySegment lse, long lseOffset, MemorySegment dout, long doutOffset,
                                      MemorySegment dq, long dqOffset, MemorySegment dk, long dkBase,
                                      MemorySegment dv, long dvBase,
                                      float[] rowDot, float[] probs, float[] dScores, float[] dkBlock, float[] dvBlock) {
        int ratio = heads / kvHeads;
        long keyStride = (long) kvHeads * headDim;
        long gOff = (long) g * headDim;
        for (int hr = 0; hr < ratio; hr++) {
            for (int i = 0; i < tq; i++) {
                long row = queryRow(b, i, g * ratio + hr, tq, heads, headDim);
                float dot = 0f;
                for (int d = 0; d < headDim; d++) dot += dout.getAtIndex(F32, doutOffset + row + d) * out.getAtIndex(F32, outOffset + row + d);
                rowDot[hr * tq + i] = dot;
            }
        }
        for (int j0 = 0; j0 < tq; j0 += KEY_BLOCK) {
            int nk = Math.min(KEY_BLOCK, tq - j0);
            Arrays.fill(dkBlock, 0, nk * headDim, 0f);
            Arrays.fill(dvBlock, 0, nk * headDim, 0f);
            for (int hr = 0; hr < ratio; hr++) {
                int h = g * ratio + hr;
                // Queries before j0 see none of these keys: start at the query block holding query j0.
                for (int i0 = j0 - j0 % QUERY_BLOCK; i0 < tq; i0 += QUERY_BLOCK) {
                    int nq = Math.min(QUERY_BLOCK, tq - i0);
                    // P and dS tiles [nq × nk]; entries above the causal diagonal stay 0.
                    for (int ii = 0; ii < nq; ii++) {
                        int i = i0 + ii;
                        long row = queryRow(b, i, h, tq, heads, headDim);
                        float rowLse = lse.getAtIndex(F32, lseOffset + ((long) b * heads + h) * tq + i);
                        float rowD = rowDot[hr * tq + i];
                        int visible = Math.max(0, Math.min(nk, i + 1 - j0));
                        for (int jj = 0; jj < nk; jj++) {
                            int t = ii * KEY_BLOCK + jj;
                            if (jj >= visible) {
                                probs[t] = 0f;
                                dScores[t] = 0f;
                                continue;
                            }
                            long kRow = kBase + (j0 + jj) * keyStride + gOff;
                            long vRow = vBase + (j0 + jj) * keyStride + gOff;
                            float s = 0f, dp = 0f;
                            for (int d = 0; d < headDim; d++) {
                                s += q.getAtIndex(F32, qOffset + row + d) * k.getAtIndex(F32, kRow + d);
                                dp += dout.getAtIndex(F32, doutOffset + row + d) * v.getAtIndex(F32, vRow + d);
                            }
                            float p = (float) Math.exp(s * scale - rowLse);
                            probs[t] = p;
                            dScores[t] = p * (dp - rowD);
                        }
                    }
                    // dV_j += Σ_i P_ij dO_i and dK_j += scale Σ_i dS_ij q_i
                    for (int jj = 0; jj < nk; jj++) {
                        for (int ii = 0; ii < nq; ii++) {
                            float p = probs[ii * KEY_BLOCK + jj], ds = dScores[ii * KEY_BLOCK + jj] * scale;
                            if (p == 0f && ds == 0f) continue;
                            long row = queryRow(b, i0 + ii, h, tq, heads, headDim);
                            for (int d = 0; d < headDim; d++) {
                                dvBlock[jj * headDim + d] += p * dout.getAtIndex(F32, doutOffset + row + d);
                                dkBlock[jj * headDim + d] += ds * q.getAtIndex(F32, qOffset + row + d);
                            }
                        }
                    }
                    // dQ_i += scale Σ_j dS_ij k_j, straight into dq: this task owns these rows.
                    for (int ii = 0; ii < nq; ii++) {
                        long row = dqOffset + queryRow(b, i0 + ii, h, tq, heads, headDim);
                        for (int d = 0; d < headDim; d++) {
                            float sumD = 0f;
                            for (int jj = 0; jj < nk; jj++) {
                                sumD += dScores[ii * KEY_BLOCK + jj] * k.getAtIndex(F32, kBase + (j0 + jj) * keyStride + gOff + d);
                            }
                            dq.setAtIndex(F32, row + d, dq.getAtIndex(F32, row + d) + scale * sumD);
                        }
                    }
                }
            }
            for (int jj = 0; jj < nk; jj++) {
                long kvRow = (j0 + jj) * keyStride + gOff;
                for (int d = 0; d < headDim; d++) {
                    dk.setAtIndex(F32, dkBase + kvRow + d, dk.getAtIndex(F32, dkBase + kvRow + d) + dkBlock[jj * headDim + d]);
                    dv.setAtIndex(F32, dvBase + kvRow + d, dv.getAtIndex(F32, dvBase + kvRow + d) + dvBlock[jj * headDim + d]);
                }
            }
        }
    }

    /** Element offset of row (b, i, h) of a [B × T × H × D] tensor. */
    private static long queryRow(int b, int i, int h, int tq, int heads, int headDim) {
        return (((long) b * tq + i) * heads + h) * headDim;
    }
}
