package dev.retort.tensor.kernels.simd;

import static dev.retort.tensor.kernels.simd.AttentionMath.F;
import static dev.retort.tensor.kernels.simd.AttentionMath.L;
import static dev.retort.tensor.kernels.simd.AttentionMath.load;

import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Attention;
import dev.retort.tensor.kernels.AttentionArgs;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * Flash attention with the Vector API: causal, grouped-query, never materialising [T×T].
 *
 * <p>Products are GEMM-shaped, with no lane sum per score. A block of {@link #KEY_BLOCK} keys is packed once
 * as Kᵀ [D × KEY_BLOCK] ({@link AttentionMath#packTransposed}; in the backward Vᵀ too) and serves every query
 * row that sees it; {@link AttentionMath#scoreRows} scores four query rows at a time against it, broadcasting
 * q[r][d] and multiplying it into [4 rows × key vectors] accumulators by row d of Kᵀ. The weighted sums of
 * rows (P·V, dS·K, Pᵀ·dO, dSᵀ·Q) also take four output rows at a time, so that each slice of V, K, dO or Q
 * loaded feeds four FMAs ({@link AttentionMath#accumulateRows}). Every score and every output element is one
 * FMA chain in a fixed order (over d, or over keys or queries upward), whichever rows share a call: a row's
 * bits do not depend on the grouping, and results are bitwise identical for any thread count.
 *
 * <p>Forward. A unit of work is (batch b, kv head g, block of {@link #QUERY_BLOCK} queries). Its tile holds
 * the rows of all ratio = H/G query heads that read kv head g, so each packed key block serves ratio·64 rows.
 * Per group of four tile rows and key block: scores, then per row an online softmax (running max m, running
 * sum l, accumulator rescaled by e^(m_old − m_new)), then acc += P·V. Key blocks wholly above the causal
 * diagonal are never visited; in a diagonal block a group is scored up to the keys its furthest row sees,
 * and each row reads only its own (keys 0..qStart+i). A decode step (Tq = 1) has a tile of ratio rows; below
 * {@link #PACKED_MIN_ROWS} rows packing does not pay, and each row is scored by dot products over D instead.
 *
 * <p>Backward (FlashAttention-2). A unit is (b, g): it owns dk and dv of kv head g and dq of the group's query
 * heads, so no two tasks write the same memory and the loop order inside a unit is fixed. For each key block
 * (outer), Kᵀ and Vᵀ are packed; for each query block that sees it, P is recomputed from q·Kᵀ and lse, and
 * dP = dO·Vᵀ, four query rows at a time; dS = P ⊙ (dP − rowsum(dO ⊙ out)); dV_j += Pᵀ·dO and
 * dK_j += scale·dSᵀ·Q, four keys at a time, collect in small per-block buffers over every head of the group;
 * dQ_i += scale·dS·K_j, four queries at a time, goes to dq per tile.
 */
public final class SimdAttention implements Attention {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /**
     * Queries per tile: in the forward, ratio·64 rows share each packed key block (at 32, each block was packed
     * twice as often: forward 5-10% slower at the stories15M shape; 128 was no better at H = 32, G = 8, D = 128).
     */
    static final int QUERY_BLOCK = 64;
    /** Keys per block: 64 keys × D ≤ 128 floats of K and of V (≤ 64 KiB together) stay in L2 across the rows. */
    static final int KEY_BLOCK = 64;
    /**
     * Tiles with fewer rows (decode steps with a GQA ratio below 4) score each row by dot products over D, with
     * a lane sum per score, instead of packing Kᵀ: packing a block costs about as much as scoring 32 rows
     * against it. Measured per decode step against 512 keys, 1 thread, AVX-512, dots vs packed: ratio 1 (H = G
     * = 6, D = 48) 32 vs 77 µs; ratio 2 (D = 64 from here) 41 vs 68; ratio 4, 36 vs 35; ratio 8, 155 vs 97;
     * ratio 16, 68 vs 33.
     */
    static final int PACKED_MIN_ROWS = 4;
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
        // Σ over queries of the keys each sees, times heads and D, times two (scores and P·V).
        long work = 2L * batch * heads * headDim * ((long) tq * qStart + (long) tq * (tq + 1) / 2);
        int tasks = ThreadPool.tasksFor(work, GRAIN, units);
        Geometry geo = new Geometry(tq, heads, kvHeads, headDim);
        ThreadPool.shared().parallelFor(tasks, task -> {
            ForwardScratch scratch = new ForwardScratch(ratio * Math.min(QUERY_BLOCK, tq), headDim);
            for (int unit = firstUnit(task, tasks, units); unit < firstUnit(task + 1, tasks, units); unit++) {
                int qBlock = unit % queryBlocks;
                int g = unit / queryBlocks % kvHeads;
                int b = unit / queryBlocks / kvHeads;
                forwardTile(geo, b, g, qBlock * QUERY_BLOCK, Math.min(tq, (qBlock + 1) * QUERY_BLOCK), qStart, scale,
                        q, qOffset, k, kOffset + b * kvBatchStride, v, vOffset + b * kvBatchStride,
                        out, outOffset, lse, lseOffset, scratch);
            }
        });
    }

    /** Units [first(task), first(task+1)) go to one task: an even split that depends only on the problem. */
    private static int firstUnit(int task, int tasks, int units) {
        return (int) ((long) task * units / tasks);
    }

    /** Sizes and strides of one call. Byte strides: a query row to the next position, a key to the next. */
    private record Geometry(int tq, int heads, int kvHeads, int headDim, int ratio, long queryStride, long keyStride,
                            VectorMask<Float> tail) {
        Geometry(int tq, int heads, int kvHeads, int headDim) {
            this(tq, heads, kvHeads, headDim, heads / kvHeads, 4L * heads * headDim, 4L * kvHeads * headDim,
                    F.indexInRange(F.loopBound(headDim), headDim));
        }

        /** Byte offset of row (b, i, h) of a [B × Tq × H × D] tensor that starts at element {@code base}. */
        long queryByte(long base, int b, int i, int h) {
            return 4 * (base + (((long) b * tq + i) * heads + h) * headDim);
        }

        /** Byte offset of key {@code pos}, kv head g, in a batch that starts at element {@code batchBase}. */
        long keyByte(long batchBase, int pos, int g) {
            return 4 * (batchBase + ((long) pos * kvHeads + g) * headDim);
        }
    }

    /**
     * Per-task buffers: running max and sum per tile row, the accumulator [rows × D], the scores of
     * {@link AttentionMath#MICRO_ROWS} rows [MICRO_ROWS × KEY_BLOCK], the packed Kᵀ of a key block
     * [D × KEY_BLOCK], and the visible key counts of a group of rows.
     */
    private record ForwardScratch(float[] max, float[] sum, float[] acc, float[] scores, float[] keysT,
                                  int[] visible) {
        ForwardScratch(int rows, int dim) {
            this(new float[rows], new float[rows], new float[rows * dim],
                    new float[AttentionMath.MICRO_ROWS * KEY_BLOCK], new float[dim * KEY_BLOCK],
                    new int[AttentionMath.MICRO_ROWS]);
        }
    }

    /** Queries i0..i1 of batch b, all heads of kv head g; tile row r = hr·n + (i − i0) is head g·ratio + hr. */
    private static void forwardTile(Geometry geo, int b, int g, int i0, int i1, int qStart, float scale,
                                    MemorySegment q, long qOffset, MemorySegment k, long kBase,
                                    MemorySegment v, long vBase, MemorySegment out, long outOffset,
                                    MemorySegment lse, long lseOffset, ForwardScratch scratch) {
        int n = i1 - i0, rows = geo.ratio * n, dim = geo.headDim;
        float[] max = scratch.max, sum = scratch.sum, acc = scratch.acc, scores = scratch.scores;
        int[] visible = scratch.visible;
        Arrays.fill(max, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0, rows, 0f);
        Arrays.fill(acc, 0, rows * dim, 0f);
        boolean packed = rows >= PACKED_MIN_ROWS;
        int keyEnd = qStart + i1; // exclusive: the tile's last query sees keys up to qStart + i1 − 1
        for (int j0 = 0; j0 < keyEnd; j0 += KEY_BLOCK) {
            int j1 = Math.min(j0 + KEY_BLOCK, keyEnd);
            long kBlock = geo.keyByte(kBase, j0, g), vBlock = geo.keyByte(vBase, j0, g);
            if (!packed) {
                for (int r = 0; r < rows; r++) {
                    int seen = Math.min(j1, qStart + i0 + r % n + 1) - j0; // causal: keys 0..qStart+i
                    if (seen <= 0) continue;
                    long qRow = tileRowByte(geo, qOffset, b, g, i0, n, r);
                    float blockMax = AttentionMath.scoreRow(q, qRow, k, kBlock, geo.keyStride, seen, dim, geo.tail,
                            scale, scores, 0);
                    softmaxStep(scratch, r, dim, 0, seen, blockMax);
                    AttentionMath.accumulate(acc, r * dim, scores, 0, 1, seen, v, vBlock, geo.keyStride, dim, geo.tail);
                }
                continue;
            }
            AttentionMath.packTransposed(k, kBlock, geo.keyStride, j1 - j0, dim, scratch.keysT);
            for (int r0 = 0; r0 < rows; r0 += AttentionMath.MICRO_ROWS) {
                int group = Math.min(AttentionMath.MICRO_ROWS, rows - r0), last = r0 + group - 1;
                int keys = 0; // the most keys of this block that a row of the group sees
                for (int u = 0; u < group; u++) {
                    visible[u] = Math.max(0, Math.min(j1, qStart + i0 + (r0 + u) % n + 1) - j0);
                    keys = Math.max(keys, visible[u]);
                }
                if (keys == 0) continue;
                // Rows r0..r0+3 of the tile, or the last row again where the tile ends (see scoreRows).
                AttentionMath.scoreRows(q, tileRowByte(geo, qOffset, b, g, i0, n, r0),
                        tileRowByte(geo, qOffset, b, g, i0, n, Math.min(r0 + 1, last)),
                        tileRowByte(geo, qOffset, b, g, i0, n, Math.min(r0 + 2, last)),
                        tileRowByte(geo, qOffset, b, g, i0, n, last),
                        scratch.keysT, keys, dim, scale, scores, 0, KEY_BLOCK);
                for (int u = 0; u < group; u++) {
                    if (visible[u] == 0) continue;
                    int from = u * KEY_BLOCK;
                    softmaxStep(scratch, r0 + u, dim, from, visible[u], AttentionMath.max(scores, from, visible[u]));
                }
                accumulateGroup(group, ZEROS, visible, acc, r0 * dim, scores, 0, KEY_BLOCK, 1,
                        v, vBlock, geo.keyStride, geo);
            }
        }
        for (int r = 0; r < rows; r++) {
            int hr = r / n, i = i0 + r % n, h = g * geo.ratio + hr;
            long outRow = geo.queryByte(outOffset, b, i, h);
            FloatVector inverse = FloatVector.broadcast(F, 1f / sum[r]);
            int d = 0;
            for (int bound = F.loopBound(dim); d < bound; d += L) {
                FloatVector.fromArray(F, acc, r * dim + d).mul(inverse).intoMemorySegment(out, outRow + 4L * d, AttentionMath.ORDER);
            }
            if (d < dim) {
                FloatVector.fromArray(F, acc, r * dim + d, geo.tail).mul(inverse)
                        .intoMemorySegment(out, outRow + 4L * d, AttentionMath.ORDER, geo.tail);
            }
            if (lse != null) {
                lse.setAtIndex(F32, lseOffset + ((long) b * geo.heads + h) * geo.tq + i, max[r] + (float) Math.log(sum[r]));
            }
        }
    }

    /** Byte offset of tile row r (query i0 + r % n of head g·ratio + r / n) in a [B × Tq × H × D] tensor. */
    private static long tileRowByte(Geometry geo, long base, int b, int g, int i0, int n, int r) {
        return geo.queryByte(base, b, i0 + r % n, g * geo.ratio + r / n);
    }

    /**
     * One key block of tile row r, online softmax: scores[from..from+seen) are the row's scaled scores, their
     * largest is blockMax. Turns them into e^(score − new max) and rescales what was accumulated under the old
     * max (sum and acc) to the new one; the caller then adds P·V of the block to acc.
     */
    private static void softmaxStep(ForwardScratch scratch, int r, int dim, int from, int seen, float blockMax) {
        float[] max = scratch.max, sum = scratch.sum;
        float newMax = Math.max(max[r], blockMax);
        float correction = AttentionMath.exp(max[r] - newMax);
        float blockSum = AttentionMath.expShiftedInPlace(scratch.scores, from, seen, newMax);
        sum[r] = sum[r] * correction + blockSum;
        max[r] = newMax;
        AttentionMath.multiply(scratch.acc, r * dim, dim, correction);
    }

    /** Every row's sum starts at t = 0 (forward, dQ). */
    private static final int[] ZEROS = new int[AttentionMath.MICRO_ROWS];

    /**
     * Weighted sums of block rows for a group of up to {@link AttentionMath#MICRO_ROWS} consecutive accumulator
     * rows u: acc[accAt + u·D ..+D] += Σ_{t in [from_u, to_u)} weights[weightsAt + u·uStride + t·tStride] ·
     * rows_t, rows_t at byte rowsByte + t·rowStride (an empty range, from ≥ to, adds nothing). The range that a
     * full group shares goes through {@link AttentionMath#accumulateRows}; what lies before and after it, row by
     * row. Either way each row's sum runs over t upward in one FMA chain, so its bits do not depend on the
     * grouping.
     */
    private static void accumulateGroup(int group, int[] from, int[] to, float[] acc, int accAt,
                                        float[] weights, int weightsAt, int uStride, int tStride,
                                        MemorySegment rows, long rowsByte, long rowStride, Geometry geo) {
        int dim = geo.headDim, lo = 0, hi = Integer.MAX_VALUE;
        for (int u = 0; u < group; u++) {
            lo = Math.max(lo, from[u]);
            hi = Math.min(hi, to[u]);
        }
        boolean shared = group == AttentionMath.MICRO_ROWS && lo < hi;
        for (int u = 0; u < group; u++) {
            int end = shared ? lo : to[u];
            accumulateRange(acc, accAt + u * dim, weights, weightsAt + u * uStride, tStride, from[u], end,
                    rows, rowsByte, rowStride, geo);
        }
        if (!shared) return;
        AttentionMath.accumulateRows(acc, accAt, accAt + dim, accAt + 2 * dim, accAt + 3 * dim, weights,
                weightsAt + lo * tStride, weightsAt + uStride + lo * tStride, weightsAt + 2 * uStride + lo * tStride,
                weightsAt + 3 * uStride + lo * tStride, tStride, hi - lo, rows, rowsByte + lo * rowStride, rowStride,
                dim, geo.tail);
        for (int u = 0; u < group; u++) {
            accumulateRange(acc, accAt + u * dim, weights, weightsAt + u * uStride, tStride, hi, to[u],
                    rows, rowsByte, rowStride, geo);
        }
    }

    /** One row of {@link #accumulateGroup}: t in [t0, t1). */
    private static void accumulateRange(float[] acc, int accAt, float[] weights, int weightsAt, int tStride,
                                        int t0, int t1, MemorySegment rows, long rowsByte, long rowStride,
                                        Geometry geo) {
        if (t0 >= t1) return;
        AttentionMath.accumulate(acc, accAt, weights, weightsAt + t0 * tStride, tStride, t1 - t0,
                rows, rowsByte + t0 * rowStride, rowStride, geo.headDim, geo.tail);
    }

    // ---- backward --------------------------------------------------------------------------------------

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
        // Five products of (visible keys × D) per query and head: S, dP, dV, dK, dQ.
        long work = 5L * batch * heads * headDim * ((long) tq * (tq + 1) / 2);
        int tasks = ThreadPool.tasksFor(work, GRAIN, units);
        Geometry geo = new Geometry(tq, heads, kvHeads, headDim);
        ThreadPool.shared().parallelFor(tasks, task -> {
            BackwardScratch scratch = new BackwardScratch(geo);
            for (int unit = firstUnit(task, tasks, units); unit < firstUnit(task + 1, tasks, units); unit++) {
                int g = unit % kvHeads, b = unit / kvHeads;
                backwardGroup(geo, b, g, scale, q, qOffset, k, kOffset + b * kvBatchStride, v, vOffset + b * kvBatchStride,
                        out, outOffset, lse, lseOffset, dout, doutOffset, dq, dqOffset,
                        dk, dkOffset + b * kvBatchStride, dv, dvOffset + b * kvBatchStride, scratch);
            }
        });
    }

    /**
     * Per-task buffers: rowDot [ratio × T] = rowsum(dO ⊙ out) per head of the group; probs and dScores, the
     * P and scale·dS tiles [QUERY_BLOCK × KEY_BLOCK]; dkBlock/dvBlock [KEY_BLOCK × D]; dqTile [QUERY_BLOCK × D];
     * keysT/valuesT, the packed Kᵀ and Vᵀ of a key block [D × KEY_BLOCK]; from/to, the summation ranges of a
     * group of rows ({@link #accumulateGroup}).
     */
    private record BackwardScratch(float[] rowDot, float[] probs, float[] dScores, float[] dkBlock, float[] dvBlock,
                                   float[] dqTile, float[] keysT, float[] valuesT, int[] from, int[] to) {
        BackwardScratch(Geometry geo) {
            this(new float[geo.ratio * geo.tq], new float[QUERY_BLOCK * KEY_BLOCK], new float[QUERY_BLOCK * KEY_BLOCK],
                    new float[KEY_BLOCK * geo.headDim], new float[KEY_BLOCK * geo.headDim],
                    new float[QUERY_BLOCK * geo.headDim], new float[geo.headDim * KEY_BLOCK],
                    new float[geo.headDim * KEY_BLOCK], new int[AttentionMath.MICRO_ROWS],
                    new int[AttentionMath.MICRO_ROWS]);
        }
    }

    private static void backwardGroup(Geometry geo, int b, int g, float scale, MemorySegment q, long qOffset,
                                      MemorySegment k, long kBase, MemorySegment v, long vBase,
                                      MemorySegment out, long outOffset, MemorySegment lse, long lseOffset,
                                      MemorySegment dout, long doutOffset, MemorySegment dq, long dqOffset,
                                      MemorySegment dk, long dkBase, MemorySegment dv, long dvBase,
                                      BackwardScratch scratch) {
        int tq = geo.tq, dim = geo.headDim, ratio = geo.ratio;
        float[] rowDot = scratch.rowDot, probs = scratch.probs, dScores = scratch.dScores;
        float[] dkBlock = scratch.dkBlock, dvBlock = scratch.dvBlock, dqTile = scratch.dqTile;
        float[] keysT = scratch.keysT, valuesT = scratch.valuesT;
        int[] from = scratch.from, to = scratch.to;
        for (int hr = 0; hr < ratio; hr++) {
            for (int i = 0; i < tq; i++) {
                int h = g * ratio + hr;
                rowDot[hr * tq + i] = AttentionMath.dot(dout, geo.queryByte(doutOffset, b, i, h),
                        out, geo.queryByte(outOffset, b, i, h), dim, geo.tail);
            }
        }
        for (int j0 = 0; j0 < tq; j0 += KEY_BLOCK) {
            int nk = Math.min(KEY_BLOCK, tq - j0);
            long kBlock = geo.keyByte(kBase, j0, g), vBlock = geo.keyByte(vBase, j0, g);
            AttentionMath.packTransposed(k, kBlock, geo.keyStride, nk, dim, keysT);
            AttentionMath.packTransposed(v, vBlock, geo.keyStride, nk, dim, valuesT);
            Arrays.fill(dkBlock, 0, nk * dim, 0f);
            Arrays.fill(dvBlock, 0, nk * dim, 0f);
            for (int hr = 0; hr < ratio; hr++) {
                int h = g * ratio + hr;
                // Queries before j0 see none of these keys: start at the query block holding query j0.
                for (int i0 = j0 - j0 % QUERY_BLOCK; i0 < tq; i0 += QUERY_BLOCK) {
                    int nq = Math.min(QUERY_BLOCK, tq - i0);
                    // P and scale·dS tiles [nq × nk]; row ii holds keys 0..visible−1, the rest is never read.
                    for (int ii0 = 0; ii0 < nq; ii0 += AttentionMath.MICRO_ROWS) {
                        int last = Math.min(ii0 + AttentionMath.MICRO_ROWS, nq) - 1;
                        int keys = Math.min(nk, i0 + last + 1 - j0); // the group's last row sees the most keys
                        if (keys <= 0) continue;
                        // Rows 1..3 of the group, or the last row again where the block ends (see scoreRows).
                        long step = geo.queryStride, s1 = Math.min(1, last - ii0) * step;
                        long s2 = Math.min(2, last - ii0) * step, s3 = (last - ii0) * step;
                        long q0 = geo.queryByte(qOffset, b, i0 + ii0, h), dout0 = geo.queryByte(doutOffset, b, i0 + ii0, h);
                        AttentionMath.scoreRows(q, q0, q0 + s1, q0 + s2, q0 + s3, keysT, keys, dim, scale,
                                probs, ii0 * KEY_BLOCK, KEY_BLOCK);
                        AttentionMath.scoreRows(dout, dout0, dout0 + s1, dout0 + s2, dout0 + s3, valuesT, keys, dim, 1f,
                                dScores, ii0 * KEY_BLOCK, KEY_BLOCK);
                        for (int ii = ii0; ii <= last; ii++) {
                            int i = i0 + ii;
                            int visible = Math.min(nk, i + 1 - j0);
                            if (visible <= 0) continue;
                            int t = ii * KEY_BLOCK;
                            float rowLse = lse.getAtIndex(F32, lseOffset + ((long) b * geo.heads + h) * tq + i);
                            AttentionMath.expShiftedInPlace(probs, t, visible, rowLse);
                            scaledScoreGradient(probs, dScores, t, visible, rowDot[hr * tq + i], scale);
                        }
                    }
                    // dV_j += Σ_i P_ij dO_i and dK_j += Σ_i (scale·dS_ij) q_i over the queries that see key j
                    // (i from j on), four keys at a time.
                    long dout0 = geo.queryByte(doutOffset, b, i0, h), q0 = geo.queryByte(qOffset, b, i0, h);
                    for (int jj0 = 0; jj0 < nk; jj0 += AttentionMath.MICRO_ROWS) {
                        int group = Math.min(AttentionMath.MICRO_ROWS, nk - jj0);
                        for (int u = 0; u < group; u++) {
                            from[u] = Math.max(0, j0 + jj0 + u - i0);
                            to[u] = nq;
                        }
                        accumulateGroup(group, from, to, dvBlock, jj0 * dim, probs, jj0, 1, KEY_BLOCK,
                                dout, dout0, geo.queryStride, geo);
                        accumulateGroup(group, from, to, dkBlock, jj0 * dim, dScores, jj0, 1, KEY_BLOCK,
                                q, q0, geo.queryStride, geo);
                    }
                    // dQ_i += Σ_j (scale·dS_ij) k_j, collected per tile, then added to dq (this task owns those rows).
                    Arrays.fill(dqTile, 0, nq * dim, 0f);
                    for (int ii0 = 0; ii0 < nq; ii0 += AttentionMath.MICRO_ROWS) {
                        int group = Math.min(AttentionMath.MICRO_ROWS, nq - ii0);
                        for (int u = 0; u < group; u++) to[u] = Math.max(0, Math.min(nk, i0 + ii0 + u + 1 - j0));
                        accumulateGroup(group, ZEROS, to, dqTile, ii0 * dim, dScores, ii0 * KEY_BLOCK, KEY_BLOCK, 1,
                                k, kBlock, geo.keyStride, geo);
                        for (int u = 0; u < group; u++) {
                            if (to[u] == 0) continue;
                            long dqRow = geo.queryByte(dqOffset, b, i0 + ii0 + u, h);
                            addInto(dq, dqRow, dqTile, (ii0 + u) * dim, dim, geo.tail);
                        }
                    }
                }
            }
            for (int jj = 0; jj < nk; jj++) {
                addInto(dk, geo.keyByte(dkBase, j0 + jj, g), dkBlock, jj * dim, dim, geo.tail);
                addInto(dv, geo.keyByte(dvBase, j0 + jj, g), dvBlock, jj * dim, dim, geo.tail);
            }
        }
    }

    /** dScores[t..t+n) = scale · P ⊙ (dP − rowDot), where dScores holds dP = dO·vᵀ on entry and probs holds P. */
    private static void scaledScoreGradient(float[] probs, float[] dScores, int t, int n, float rowDot, float scale) {
        FloatVector rowDotV = FloatVector.broadcast(F, rowDot);
        int j = 0;
        for (int bound = F.loopBound(n); j < bound; j += L) {
            FloatVector p = FloatVector.fromArray(F, probs, t + j);
            FloatVector dp = FloatVector.fromArray(F, dScores, t + j);
            dp.sub(rowDotV).mul(p).mul(scale).intoArray(dScores, t + j);
        }
        if (j < n) {
            VectorMask<Float> tail = F.indexInRange(j, n);
            FloatVector p = FloatVector.fromArray(F, probs, t + j, tail);
            FloatVector dp = FloatVector.fromArray(F, dScores, t + j, tail);
            dp.sub(rowDotV).mul(p).mul(scale).intoArray(dScores, t + j, tail);
        }
    }

    /** segment[byteOffset..+dim floats] += values[from..from+dim). */
    private static void addInto(MemorySegment segment, long byteOffset, float[] values, int from, int dim,
                                VectorMask<Float> tail) {
        int d = 0;
        for (int bound = F.loopBound(dim); d < bound; d += L) {
            long at = byteOffset + 4L * d;
            FloatVector.fromMemorySegment(F, segment, at, AttentionMath.ORDER).add(FloatVector.fromArray(F, values, from + d))
                    .intoMemorySegment(segment, at, AttentionMath.ORDER);
        }
        if (d < dim) {
            load(segment, byteOffset + 4L * d, tail).add(FloatVector.fromArray(F, values, from + d, tail))
                    .intoMemorySegment(segment, byteOffset + 4L * d, AttentionMath.ORDER, tail);
        }
    }
}
