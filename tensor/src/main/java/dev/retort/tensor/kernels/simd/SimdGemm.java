package dev.retort.tensor.kernels.simd;

import static dev.retort.tensor.kernels.simd.GemmMicroKernel.MR;
import static dev.retort.tensor.kernels.simd.GemmMicroKernel.NR;

import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.GemmArguments;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * GEMM in the style of GotoBLAS/BLIS, and a bandwidth-bound matvec.
 *
 * <p>GEMM: C [m x n] is cut into task tiles ({@link #tiling}); each task owns its tile of C outright (no two
 * tasks write the same element). Inside a task the loop nest is the classic one ({@link #multiplyTile}): K in
 * blocks of kc, then column blocks of nc whose op(B) block is packed (and widened from BF16/F16) once, then row
 * blocks of mc whose op(A) block is packed, then the register-tiled {@link GemmMicroKernel} over MR x NR
 * micro-tiles, A panels outer and B panels inner. Packing buffers are per thread and reused. Block sizes
 * (maxima; the actual blocks split a tile evenly):
 * <ul>
 *   <li>KC = 512: one packed A micro-panel (MR x kc, 16 KiB) stays in L1 while the kernel streams B panels,
 *       and each C micro-tile is loaded and stored once per 512 k steps;
 *   <li>NC = 288 (6 panels of 48 at 512 bits): the packed B block (KC x NC, 576 KiB) stays in a 1 MiB L2
 *       while every A panel of the row block passes over it; the packed A block is streamed, one panel at a time.
 * </ul>
 * Chosen by measurement on Zen 4 (thread CPU time, 1 thread): against KC=256/NC=480, this gained 10-20% on
 * 2048³ and 256x288x768 (k=288 becomes one K block); KC=384 or 768 were in between.
 * Each element of C is one FMA chain per K block, the K blocks (their size a function of k alone) summed in
 * ascending order, whichever tile holds it; so C is bitwise identical for any tiling, and the tile count may
 * follow the thread count. The first K block applies the caller's beta; later blocks accumulate.
 */
public final class SimdGemm implements Gemm {
    private static final int KC = 512;
    private static final int MC = MR * (256 / MR);
    private static final int NC = NR * Math.max(1, 288 / NR);
    /** Multiply-adds below which a task is not split further (~ tens of microseconds of work). */
    private static final long GRAIN = 1 << 20;
    /**
     * How many tiles to aim for: one per WORK_PER_TASK multiply-adds, at least MIN_TASKS (so two or four cores
     * share even a mid-size product) and at most TILES_PER_THREAD per pool thread (but never fewer than
     * MIN_TASKS). Fewer, larger tiles pack each operand fewer times: on Zen 4, 1 thread, 512³ ran at ~93 GFLOP/s
     * with 4 tiles and ~82 with 8; 256x288x768 at ~89 with 4 and ~77 with 32; 2048³ ~9% faster with 4 tiles
     * than with the 60 that a fixed cap of 32 gave (session 6, CPU time). Tiles only partition C (each
     * element's arithmetic is fixed by k alone), so the tile count may follow the thread count without C
     * changing in a single bit.
     */
    private static final long WORK_PER_TASK = 1L << 25;
    private static final int MIN_TASKS = 4, TILES_PER_THREAD = 2;
    private static final long MATVEC_GRAIN = 1 << 16; // weight elements per matvec task
    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final int VL = Simd.F.length();

    /** Packing buffers of one thread, reused across calls: allocation happens once per thread. */
    private static final class Scratch {
        final float[] a = new float[MC * KC];
        final float[] b = new float[KC * NC];
        final float[] edge = new float[MR * NR];
        /** VL stored rows of B, widened, for the A·Bᵀ transpose: [VL][kc]. */
        final float[] bRows = new float[VL * KC];
        float[] xHeap = new float[0];
        float[] rows = new float[0];
        /** One chunk of an F16 row, widened ({@link #rowDotF16}). */
        final float[] f16Chunk = new float[F16_CHUNK];

        /** A buffer of at least n floats for a group of weight rows (grown when needed). */
        float[] rows(int n) {
            if (rows.length < n) rows = new float[n];
            return rows;
        }
    }

    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    /** How C is cut into task tiles: tilesM x tilesN tiles of tileM x tileN (the last ones may be smaller). */
    record Tiling(int tileM, int tileN, int tilesM, int tilesN) {
        int tasks() { return tilesM * tilesN; }
    }

    /**
     * Starts from one tile (all of C) and halves a side until there are enough tiles (see WORK_PER_TASK) or a half would hold
     * less than a grain of work. Which side: a task packs each kc x nc block of B once and reuses it for all its
     * rows, and re-copies its rows of A once per nc columns. So splitting N costs one more copy of A's rows
     * (cheap: contiguous F32) and splitting M one more packing of B's columns (dearer: B is transposed for ABT,
     * widened for BF16/F16, and large B comes from L3 or memory; counted here as four times A). Tiles wider than
     * NC split N for free, since A is re-copied per NC columns anyway.
     */
    static Tiling tiling(int m, int n, int k, int threads) {
        int maxTasks = Math.max(MIN_TASKS, TILES_PER_THREAD * threads);
        int target = (int) Math.min(maxTasks, Math.max(MIN_TASKS, (long) m * n * k / WORK_PER_TASK));
        int tileM = tileSize(m, 1, MR), tileN = tileSize(n, 1, NR);
        while (ceilDiv(m, tileM) * ceilDiv(n, tileN) < target && (long) tileM * tileN * k >= 2 * GRAIN) {
            boolean canSplitN = tileN >= 2 * NR, canSplitM = tileM >= 2 * MR;
            long costSplitN = (long) m * ceilDiv(n, tileN), costSplitM = 4L * n * ceilDiv(m, tileM);
            if (canSplitN && (!canSplitM || tileN > NC || costSplitN <= costSplitM)) {
                tileN = tileSize(n, 2 * ceilDiv(n, tileN), NR);
            } else if (canSplitM) {
                tileM = tileSize(m, 2 * ceilDiv(m, tileM), MR);
            } else {
                break;
            }
        }
        return new Tiling(tileM, tileN, ceilDiv(m, tileM), ceilDiv(n, tileN));
    }

    /** The size of each of {@code tiles} pieces of {@code extent}, rounded up to a multiple of {@code unit}. */
    private static int tileSize(int extent, int tiles, int unit) {
        return Math.max(unit, ceilDiv(ceilDiv(extent, Math.max(1, tiles)), unit) * unit);
    }

    private static int ceilDiv(int x, int y) {
        return (x + y - 1) / y;
    }

    @Override
    public void gemm(Layout layout, int m, int n, int k, float alpha,
                     MemorySegment a, long aOffset, int lda,
                     MemorySegment b, long bOffset, int ldb, DType bType,
                     float beta,
                     MemorySegment c, long cOffset, int ldc) {
        GemmArguments.checkGemm(layout, m, n, k, a, aOffset, lda, b, bOffset, ldb, bType, c, cOffset, ldc);
        run(layout, 1, m, n, k, alpha, a, aOffset, 0, lda, b, bOffset, 0, ldb, bType, beta, c, cOffset, 0, ldc);
    }

    /**
     * Tasks are (matrix, tile) pairs, so a batch of small products runs in parallel across the batch and a batch
     * of large ones within each matrix too. With {@code strideC == 0} every product updates the same C, so the
     * products run one after another (each parallel inside), as the sequential definition requires.
     */
    @Override
    public void gemmBatched(Layout layout, int batch, int m, int n, int k, float alpha,
                            MemorySegment a, long aOffset, long strideA, int lda,
                            MemorySegment b, long bOffset, long strideB, int ldb, DType bType,
                            float beta,
                            MemorySegment c, long cOffset, long strideC, int ldc) {
        GemmArguments.checkBatched(layout, batch, m, n, k, a, aOffset, strideA, lda, b, bOffset, strideB, ldb, bType,
                c, cOffset, strideC, ldc);
        run(layout, batch, m, n, k, alpha, a, aOffset, strideA, lda, b, bOffset, strideB, ldb, bType, beta,
                c, cOffset, strideC, ldc);
    }

    /** {@link #gemmBatched} after its arguments were checked. */
    private void run(Layout layout, int batch, int m, int n, int k, float alpha,
                     MemorySegment a, long aOffset, long strideA, int lda,
                     MemorySegment b, long bOffset, long strideB, int ldb, DType bType,
                     float beta,
                     MemorySegment c, long cOffset, long strideC, int ldc) {
        if (batch == 0 || m == 0 || n == 0) return;
        if (strideC == 0 && batch > 1) {
            for (int i = 0; i < batch; i++) {
                run(layout, 1, m, n, k, alpha, a, aOffset + i * strideA, 0, lda,
                        b, bOffset + i * strideB, 0, ldb, bType, beta, c, cOffset, 0, ldc);
            }
            return;
        }
        if (k == 0 || alpha == 0f) {
            // Nothing to multiply (BLAS convention: A and B are not read when alpha is 0): C = beta·C.
            for (int i = 0; i < batch; i++) scale(m, n, beta, c, cOffset + i * strideC, ldc);
            return;
        }
        Tiling t = tiling(m, n, k, ThreadPool.shared().threads());
        int tilesPerMatrix = t.tasks();
        // Tiny products: several whole matrices per task, so the batch is not split below a grain.
        int matricesPerTask = 1;
        if (tilesPerMatrix == 1) {
            int groups = ThreadPool.tasksFor((long) batch * m * n * k, GRAIN, batch);
            matricesPerTask = ceilDiv(batch, groups);
        }
        int perTask = matricesPerTask;
        int tasks = tilesPerMatrix == 1 ? ceilDiv(batch, perTask) : batch * tilesPerMatrix;
        ThreadPool.shared().parallelFor(tasks, task -> {
            Scratch s = scratch.get();
            int firstMatrix = tilesPerMatrix == 1 ? task * perTask : task / tilesPerMatrix;
            int lastMatrix = tilesPerMatrix == 1 ? Math.min(batch, firstMatrix + perTask) : firstMatrix + 1;
            int tile = tilesPerMatrix == 1 ? 0 : task % tilesPerMatrix;
            int i0 = tile / t.tilesN() * t.tileM(), j0 = tile % t.tilesN() * t.tileN();
            int mTile = Math.min(t.tileM(), m - i0), nTile = Math.min(t.tileN(), n - j0);
            for (int mat = firstMatrix; mat < lastMatrix; mat++) {
                multiplyTile(layout, i0, mTile, j0, nTile, k, alpha,
                        a, aOffset + mat * strideA, lda, b, bOffset + mat * strideB, ldb, bType,
                        beta, c, cOffset + mat * strideC, ldc, s);
            }
        });
    }

    /**
     * C[i0 .. i0+mTile, j0 .. j0+nTile) = alpha · op(A)·op(B) + beta · C over that tile. Loop nest (outer to
     * inner): K blocks of kc → column blocks of nc (pack B: kc x nc, stays in L2) → row blocks of mc (pack A:
     * mc x kc) → MR-row A panels (one stays in L1) → NR-column B panels → micro-kernel. Block sizes are the
     * tile split evenly, so no block is a sliver.
     */
    private static void multiplyTile(Layout layout, int i0, int mTile, int j0, int nTile, int k, float alpha,
                                     MemorySegment a, long aOffset, int lda,
                                     MemorySegment b, long bOffset, int ldb, DType bType,
                                     float beta, MemorySegment c, long cOffset, int ldc, Scratch s) {
        int kcEven = ceilDiv(k, ceilDiv(k, KC));
        int ncEven = tileSize(nTile, ceilDiv(nTile, NC), NR);
        int mcEven = tileSize(mTile, ceilDiv(mTile, MC), MR);
        // One row block (mTile up to MC, as in every small-M product): its packed A serves every column block.
        boolean oneRowBlock = mcEven >= mTile;
        for (int p0 = 0; p0 < k; p0 += kcEven) {
            int kc = Math.min(kcEven, k - p0);
            float blockBeta = p0 == 0 ? beta : 1f;
            if (oneRowBlock) GemmPacking.packA(layout, a, aOffset, lda, i0, mTile, p0, kc, s.a);
            for (int jc = 0; jc < nTile; jc += ncEven) {
                int nc = Math.min(ncEven, nTile - jc);
                GemmPacking.packB(layout, b, bOffset, ldb, bType, p0, kc, j0 + jc, nc, s.b, s.bRows);
                for (int ic = 0; ic < mTile; ic += mcEven) {
                    int mc = Math.min(mcEven, mTile - ic);
                    if (!oneRowBlock) GemmPacking.packA(layout, a, aOffset, lda, i0 + ic, mc, p0, kc, s.a);
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = Math.min(MR, mc - ir);
                        long cRow = cOffset + (long) (i0 + ic + ir) * ldc + j0 + jc;
                        for (int jr = 0; jr < nc; jr += NR) {
                            GemmMicroKernel.multiply(kc, s.a, ir * kc, s.b, jr * kc, c, cRow + jr, ldc,
                                    mr, Math.min(NR, nc - jr), alpha, blockBeta, s.edge);
                        }
                    }
                }
            }
        }
    }

    /** C = beta·C, with beta == 0 writing zeros (NaNs in C do not survive). */
    private static void scale(int m, int n, float beta, MemorySegment c, long cOffset, int ldc) {
        for (int i = 0; i < m; i++) {
            long row = cOffset + (long) i * ldc;
            for (int j = 0; j < n; j++) {
                c.setAtIndex(F32, row + j, beta == 0f ? 0f : beta * c.getAtIndex(F32, row + j));
            }
        }
    }

    // ---- matvec ---------------------------------------------------------------------------------------

    /**
     * y = W·x, one dot product per row. Bound by the bandwidth of reading W, so the work is arranged to stream
     * W once: rows go in groups of four, short F32 rows read one after the other as sequential streams and long
     * ones (from INTERLEAVED_ROWS_FROM) four interleaved sharing each load of x ({@link #matvecF32}), BF16/F16
     * rows are widened in registers, and tasks are blocks of rows (a multiple of four) with at least
     * MATVEC_GRAIN weights each. Q8_0 weights go to {@link Q8Matvec}.
     */
    @Override
    public void matvec(int rows, int cols,
                       MemorySegment w, long wOffset, int ldw, DType wType,
                       MemorySegment x, long xOffset,
                       MemorySegment y, long yOffset) {
        GemmArguments.checkMatvec(rows, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset);
        if (wType == DType.Q8_0) {
            Q8Matvec.matvecs(1, rows, cols, w, wOffset, ldw, x, xOffset, y, yOffset);
            return;
        }
        if (rows == 0) return;
        int tasks = ThreadPool.tasksFor((long) rows * Math.max(cols, 1), MATVEC_GRAIN, ceilDiv(rows, 4));
        int rowsPerTask = ceilDiv(ceilDiv(rows, tasks), 4) * 4;
        float[] xArray = xArrayFor(wType, x, xOffset, cols, threadXHeap(cols));
        ThreadPool.shared().parallelFor(ceilDiv(rows, rowsPerTask), task -> {
            int end = Math.min(rows, (task + 1) * rowsPerTask);
            int r = task * rowsPerTask;
            float[] partial = new float[4];
            float[] f16Chunk = scratch.get().f16Chunk;
            for (; r + 4 <= end; r += 4) matvecRows(4, r, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset, xArray, f16Chunk, partial);
            for (; r < end; r++) matvecRows(1, r, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset, xArray, f16Chunk, partial);
        });
    }

    /**
     * Y[i] = W·X[i] for {@code count} vectors, each bitwise {@link #matvec} of X[i]: the same tasks of rows, and
     * within a task each group of (up to) four rows is multiplied by every vector in turn before the next group,
     * so the group is read from memory once and from L1/L2 for the other vectors. Decoding B sequences together
     * costs one stream of W instead of B.
     */
    @Override
    public void matvecs(int count, int rows, int cols,
                        MemorySegment w, long wOffset, int ldw, DType wType,
                        MemorySegment x, long xOffset,
                        MemorySegment y, long yOffset) {
        GemmArguments.checkMatvecs(count, rows, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset);
        if (wType == DType.Q8_0) {
            Q8Matvec.matvecs(count, rows, cols, w, wOffset, ldw, x, xOffset, y, yOffset);
            return;
        }
        if (count == 1) {
            matvec(rows, cols, w, wOffset, ldw, wType, x, xOffset, y, yOffset);
            return;
        }
        if (rows == 0 || count == 0) return;
        int tasks = ThreadPool.tasksFor((long) rows * Math.max(cols, 1), MATVEC_GRAIN, ceilDiv(rows, 4));   // as matvec
        int rowsPerTask = ceilDiv(ceilDiv(rows, tasks), 4) * 4;
        float[][] xHalf = new float[count][];
        for (int i = 0; i < count; i++) xHalf[i] = xArrayFor(wType, x, xOffset + (long) i * cols, cols, new float[cols]);
        // Short F32 rows: after the first vector, a group's four rows are copied to the heap and the other vectors
        // read them (and themselves) from arrays, where the JIT drops the per-load checks of segment access.
        boolean onHeap = wType == DType.F32 && cols < INTERLEAVED_ROWS_FROM;
        float[][] xArrays = new float[count][];
        if (onHeap) for (int i = 1; i < count; i++) xArrays[i] = x.asSlice((xOffset + (long) i * cols) * 4, cols * 4L).toArray(ValueLayout.JAVA_FLOAT);
        ThreadPool.shared().parallelFor(ceilDiv(rows, rowsPerTask), task -> {
            int end = Math.min(rows, (task + 1) * rowsPerTask);
            float[] partial = new float[4];
            float[] f16Chunk = scratch.get().f16Chunk;
            float[] rows4 = onHeap ? scratch.get().rows(4 * cols) : null;
            for (int r = task * rowsPerTask; r < end; ) {
                int group = r + 4 <= end ? 4 : 1;
                for (int i = 0; i < count; i++) {
                    // the first vector streams the rows from memory as matvec does; the others find them in L1
                    if (i > 0 && rows4 != null && group == 4) {
                        if (i == 1) MemorySegment.copy(w, F32, (wOffset + (long) r * ldw) * 4, rows4, 0, cols);
                        if (i == 1) for (int k = 1; k < 4; k++) MemorySegment.copy(w, F32, (wOffset + (long) (r + k) * ldw) * 4, rows4, k * cols, cols);
                        rowDotsF32(cols, rows4, xArrays[i], y, yOffset + (long) i * rows + r);
                    } else {
                        matvecRows(group, r, cols, w, wOffset, ldw, wType, x, xOffset + (long) i * cols,
                                y, yOffset + (long) i * rows, xHalf[i], f16Chunk, partial);
                    }
                }
                r += group;
            }
        });
    }

    /**
     * y[r0 .. r0+count) for count 1 or 4 (rows beyond count are not read): the whole vectors per type in its own
     * method (one compiled loop each), then the columns past the last whole vector, in order.
     */
    private static void matvecRows(int count, int r0, int cols,
                                   MemorySegment w, long wOffset, int ldw, DType wType,
                                   MemorySegment x, long xOffset, MemorySegment y, long yOffset,
                                   float[] xArray, float[] f16Chunk, float[] partial) {
        long row0 = wOffset + (long) r0 * ldw;
        long row1 = count > 1 ? row0 + ldw : row0, row2 = count > 1 ? row1 + ldw : row0, row3 = count > 1 ? row2 + ldw : row0;
        int col = switch (wType) {
            case F32 -> matvecF32(count, cols, w, row0, row1, row2, row3, x, xOffset, partial);
            case BF16 -> matvecBf16(count, cols, w, row0, row1, row2, row3, xArray, partial);
            default -> matvecF16(count, cols, w, row0, row1, row2, row3, xArray, f16Chunk, partial);
        };
        float y0 = partial[0], y1 = partial[1], y2 = partial[2], y3 = partial[3];
        for (; col < cols; col++) {
            float xc = x.getAtIndex(F32, xOffset + col);
            y0 = Math.fma(GemmPacking.load(w, row0 + col, wType), xc, y0);
            if (count > 1) {
                y1 = Math.fma(GemmPacking.load(w, row1 + col, wType), xc, y1);
                y2 = Math.fma(GemmPacking.load(w, row2 + col, wType), xc, y2);
                y3 = Math.fma(GemmPacking.load(w, row3 + col, wType), xc, y3);
            }
        }
        y.setAtIndex(F32, yOffset + r0, y0);
        if (count > 1) {
            y.setAtIndex(F32, yOffset + r0 + 1, y1);
            y.setAtIndex(F32, yOffset + r0 + 2, y2);
            y.setAtIndex(F32, yOffset + r0 + 3, y3);
        }
    }

    /** The calling thread's buffer for x on the heap ({@link #xArrayFor}, grown when needed); the tasks only read it. */
    private float[] threadXHeap(int cols) {
        Scratch s = scratch.get();
        if (s.xHeap.length < cols) s.xHeap = new float[cols];
        return s.xHeap;
    }

    /**
     * x on the heap for the 16-bit weight types (null for F32, read from its segment): re-ordered even/odd for
     * BF16 ({@link #splitEvenOdd}), as it is for F16. {@code buffer} is at least cols long; returns it.
     */
    private static float[] xArrayFor(DType wType, MemorySegment x, long xOffset, int cols, float[] buffer) {
        return switch (wType) {
            case BF16 -> splitEvenOdd(x, xOffset, cols, buffer);
            case F16 -> {
                MemorySegment.copy(x, F32, xOffset * 4, buffer, 0, cols);
                yield buffer;
            }
            default -> null;
        };
    }

    /**
     * Fills {@code split} (at least cols long) with x re-ordered for {@link #matvecBf16}: per whole block of 2·VL
     * columns, the even-indexed values, then the odd. Returns it.
     */
    private static float[] splitEvenOdd(MemorySegment x, long xOffset, int cols, float[] split) {
        for (int block = 0; block + 2 * VL <= cols; block += 2 * VL) {
            for (int l = 0; l < VL; l++) {
                split[block + l] = x.getAtIndex(F32, xOffset + block + 2 * l);
                split[block + VL + l] = x.getAtIndex(F32, xOffset + block + 2 * l + 1);
            }
        }
        return split;
    }

    /**
     * Sums of whole F32 vectors of rows row0..row3 times x into partial[0..3]; returns the first column left.
     * Short rows (a model's 768- or 2048-wide projections) are read one after the other, each one sequential
     * stream: four rows read interleaved are four short streams (a 768-wide row is 48 cache lines) that the
     * hardware prefetchers never get up to speed on (13 GB/s against 20-25 read sequentially, on Zen 4). Long
     * rows keep the interleaved reading, whose four long streams were faster there (20 vs 13-17 GB/s at 4096).
     */
    private static int matvecF32(int count, int cols, MemorySegment w, long row0, long row1, long row2, long row3,
                                 MemorySegment x, long xOffset, float[] partial) {
        if (cols >= INTERLEAVED_ROWS_FROM) return matvecF32Interleaved(count, cols, w, row0, row1, row2, row3, x, xOffset, partial);
        partial[0] = rowDotF32(cols, w, row0, x, xOffset);
        if (count > 1) {
            partial[1] = rowDotF32(cols, w, row1, x, xOffset);
            partial[2] = rowDotF32(cols, w, row2, x, xOffset);
            partial[3] = rowDotF32(cols, w, row3, x, xOffset);
        }
        return cols - cols % VL;
    }

    /** Row width (floats) from which four rows are read interleaved rather than one after the other. */
    private static final int INTERLEAVED_ROWS_FROM = 4096;

    /** Four rows at once, one accumulator each, sharing each load of x. */
    private static int matvecF32Interleaved(int count, int cols, MemorySegment w, long row0, long row1, long row2, long row3,
                                            MemorySegment x, long xOffset, float[] partial) {
        FloatVector s0 = FloatVector.zero(Simd.F), s1 = s0, s2 = s0, s3 = s0;
        int col = 0;
        for (; col + VL <= cols; col += VL) {
            FloatVector xv = FloatVector.fromMemorySegment(Simd.F, x, (xOffset + col) * 4, ORDER);
            s0 = FloatVector.fromMemorySegment(Simd.F, w, (row0 + col) * 4, ORDER).fma(xv, s0);
            if (count > 1) {
                s1 = FloatVector.fromMemorySegment(Simd.F, w, (row1 + col) * 4, ORDER).fma(xv, s1);
                s2 = FloatVector.fromMemorySegment(Simd.F, w, (row2 + col) * 4, ORDER).fma(xv, s2);
                s3 = FloatVector.fromMemorySegment(Simd.F, w, (row3 + col) * 4, ORDER).fma(xv, s3);
            }
        }
        reduceInto(partial, s0, s1, s2, s3);
        return col;
    }

    /** Σ w[row + c]·x[c] over the whole vectors of one row, in four interleaved accumulators. */
    private static float rowDotF32(int cols, MemorySegment w, long row, MemorySegment x, long xOffset) {
        FloatVector a0 = FloatVector.zero(Simd.F), a1 = a0, a2 = a0, a3 = a0;
        int col = 0;
        for (; col + 4 * VL <= cols; col += 4 * VL) {
            a0 = FloatVector.fromMemorySegment(Simd.F, w, (row + col) * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(Simd.F, x, (xOffset + col) * 4, ORDER), a0);
            a1 = FloatVector.fromMemorySegment(Simd.F, w, (row + col + VL) * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(Simd.F, x, (xOffset + col + VL) * 4, ORDER), a1);
            a2 = FloatVector.fromMemorySegment(Simd.F, w, (row + col + 2 * VL) * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(Simd.F, x, (xOffset + col + 2 * VL) * 4, ORDER), a2);
            a3 = FloatVector.fromMemorySegment(Simd.F, w, (row + col + 3 * VL) * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(Simd.F, x, (xOffset + col + 3 * VL) * 4, ORDER), a3);
        }
        for (; col + VL <= cols; col += VL) {
            a0 = FloatVector.fromMemorySegment(Simd.F, w, (row + col) * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(Simd.F, x, (xOffset + col) * 4, ORDER), a0);
        }
        return Simd.sumLanes(a0.add(a1).add(a2.add(a3)));
    }

    /**
     * y[0..4) = the four rows in {@code rows} [4 × cols] times x, each with exactly {@link #rowDotF32}'s arithmetic
     * (four accumulators per row over blocks of 4·VL columns, the remaining whole vectors into the first, the same
     * sums) followed by {@link #matvecRows}'s in-order tail, so the results are bitwise those of matvec; sixteen
     * independent accumulators hide the FMA latency that one short row cannot.
     */
    private static void rowDotsF32(int cols, float[] rows, float[] x, MemorySegment y, long yAt) {
        int r1 = cols, r2 = 2 * cols, r3 = 3 * cols;
        FloatVector z = FloatVector.zero(Simd.F);
        FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
        FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
        int col = 0;
        for (; col + 4 * VL <= cols; col += 4 * VL) {
            FloatVector x0 = FloatVector.fromArray(Simd.F, x, col), x1 = FloatVector.fromArray(Simd.F, x, col + VL);
            FloatVector x2 = FloatVector.fromArray(Simd.F, x, col + 2 * VL), x3 = FloatVector.fromArray(Simd.F, x, col + 3 * VL);
            a0 = FloatVector.fromArray(Simd.F, rows, col).fma(x0, a0);
            b0 = FloatVector.fromArray(Simd.F, rows, r1 + col).fma(x0, b0);
            c0 = FloatVector.fromArray(Simd.F, rows, r2 + col).fma(x0, c0);
            d0 = FloatVector.fromArray(Simd.F, rows, r3 + col).fma(x0, d0);
            a1 = FloatVector.fromArray(Simd.F, rows, col + VL).fma(x1, a1);
            b1 = FloatVector.fromArray(Simd.F, rows, r1 + col + VL).fma(x1, b1);
            c1 = FloatVector.fromArray(Simd.F, rows, r2 + col + VL).fma(x1, c1);
            d1 = FloatVector.fromArray(Simd.F, rows, r3 + col + VL).fma(x1, d1);
            a2 = FloatVector.fromArray(Simd.F, rows, col + 2 * VL).fma(x2, a2);
            b2 = FloatVector.fromArray(Simd.F, rows, r1 + col + 2 * VL).fma(x2, b2);
            c2 = FloatVector.fromArray(Simd.F, rows, r2 + col + 2 * VL).fma(x2, c2);
            d2 = FloatVector.fromArray(Simd.F, rows, r3 + col + 2 * VL).fma(x2, d2);
            a3 = FloatVector.fromArray(Simd.F, rows, col + 3 * VL).fma(x3, a3);
            b3 = FloatVector.fromArray(Simd.F, rows, r1 + col + 3 * VL).fma(x3, b3);
            c3 = FloatVector.fromArray(Simd.F, rows, r2 + col + 3 * VL).fma(x3, c3);
            d3 = FloatVector.fromArray(Simd.F, rows, r3 + col + 3 * VL).fma(x3, d3);
        }
        for (; col + VL <= cols; col += VL) {
            FloatVector xv = FloatVector.fromArray(Simd.F, x, col);
            a0 = FloatVector.fromArray(Simd.F, rows, col).fma(xv, a0);
            b0 = FloatVector.fromArray(Simd.F, rows, r1 + col).fma(xv, b0);
            c0 = FloatVector.fromArray(Simd.F, rows, r2 + col).fma(xv, c0);
            d0 = FloatVector.fromArray(Simd.F, rows, r3 + col).fma(xv, d0);
        }
        // Simd.sumLanes of each row, written out: C2 does not inline that call into this loop-heavy method ("callee
        // is too large"), and a call boxes every vector it is passed (13.7 GB of garbage in a 200-token B = 8 decode)
        FloatVector ya = a0.add(a1).add(a2.add(a3)), yb = b0.add(b1).add(b2.add(b3));
        FloatVector yc = c0.add(c1).add(c2.add(c3)), yd = d0.add(d1).add(d2.add(d3));
        if (Simd.L > 8) {
            ya = ya.add(ya.rearrange(Simd.SWAP_8));
            yb = yb.add(yb.rearrange(Simd.SWAP_8));
            yc = yc.add(yc.rearrange(Simd.SWAP_8));
            yd = yd.add(yd.rearrange(Simd.SWAP_8));
        }
        if (Simd.L > 4) {
            ya = ya.add(ya.rearrange(Simd.SWAP_4));
            yb = yb.add(yb.rearrange(Simd.SWAP_4));
            yc = yc.add(yc.rearrange(Simd.SWAP_4));
            yd = yd.add(yd.rearrange(Simd.SWAP_4));
        }
        if (Simd.L > 2) {
            ya = ya.add(ya.rearrange(Simd.SWAP_2));
            yb = yb.add(yb.rearrange(Simd.SWAP_2));
            yc = yc.add(yc.rearrange(Simd.SWAP_2));
            yd = yd.add(yd.rearrange(Simd.SWAP_2));
        }
        ya = ya.add(ya.rearrange(Simd.SWAP_1));
        yb = yb.add(yb.rearrange(Simd.SWAP_1));
        yc = yc.add(yc.rearrange(Simd.SWAP_1));
        yd = yd.add(yd.rearrange(Simd.SWAP_1));
        float y0 = ya.lane(0), y1 = yb.lane(0), y2 = yc.lane(0), y3 = yd.lane(0);
        for (; col < cols; col++) {
            y0 = Math.fma(rows[col], x[col], y0);
            y1 = Math.fma(rows[r1 + col], x[col], y1);
            y2 = Math.fma(rows[r2 + col], x[col], y2);
            y3 = Math.fma(rows[r3 + col], x[col], y3);
        }
        y.setAtIndex(F32, yAt, y0);
        y.setAtIndex(F32, yAt + 1, y1);
        y.setAtIndex(F32, yAt + 2, y2);
        y.setAtIndex(F32, yAt + 3, y3);
    }

    /**
     * As {@link #matvecF32} for BF16 rows. Each load takes 2·VL weights as VL int lanes, each holding an
     * even-indexed weight in its low half and the next (odd-indexed) one in its high half; shifting or masking
     * widens the even and the odd weights in one instruction each, no lane shuffles (the Vector API's expanding
     * convertShape measured at ~0.6 ns per weight here, a sixth of the bandwidth). {@code xSplit} holds x
     * re-ordered to match: per block of 2·VL columns, the VL even-indexed values, then the VL odd ones.
     */
    private static int matvecBf16(int count, int cols, MemorySegment w,
                                  long row0, long row1, long row2, long row3, float[] xSplit, float[] partial) {
        FloatVector s0 = FloatVector.zero(Simd.F), s1 = s0, s2 = s0, s3 = s0;
        int col = 0;
        for (; col + 2 * VL <= cols; col += 2 * VL) {
            FloatVector xEven = FloatVector.fromArray(Simd.F, xSplit, col);
            FloatVector xOdd = FloatVector.fromArray(Simd.F, xSplit, col + VL);
            s0 = bf16Dot(w, row0 + col, xEven, xOdd, s0);
            if (count > 1) {
                s1 = bf16Dot(w, row1 + col, xEven, xOdd, s1);
                s2 = bf16Dot(w, row2 + col, xEven, xOdd, s2);
                s3 = bf16Dot(w, row3 + col, xEven, xOdd, s3);
            }
        }
        reduceInto(partial, s0, s1, s2, s3);
        return col;
    }

    /** acc + the 2·VL BF16 weights at element {@code at}, widened, times x (even and odd lanes apart). */
    private static FloatVector bf16Dot(MemorySegment w, long at, FloatVector xEven, FloatVector xOdd, FloatVector acc) {
        IntVector pairs = IntVector.fromMemorySegment(Simd.I, w, at * 2, ORDER);
        FloatVector even = pairs.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        FloatVector odd = pairs.and(0xffff0000).reinterpretAsFloats();
        return odd.fma(xOdd, even.fma(xEven, acc));
    }

    /** F16 weights widened per row chunk ({@link #rowDotF16}); a multiple of 2·VL at every width. */
    private static final int F16_CHUNK = 512;

    /**
     * F16 rows one after the other, each its own sequential stream (as short F32 rows are), from one call site:
     * four inlined copies of rowDotF16 exceed C2's node budget and halve the speed of the compiled loops.
     */
    private static int matvecF16(int count, int cols, MemorySegment w,
                                 long row0, long row1, long row2, long row3, float[] x, float[] chunk, float[] partial) {
        for (int k = 0; k < count; k++) {
            long row = switch (k) { case 0 -> row0; case 1 -> row1; case 2 -> row2; default -> row3; };
            partial[k] = rowDotF16(cols, w, row, x, chunk);
        }
        return cols - cols % VL;
    }

    /**
     * Σ w[row + c]·x[c] over the whole vectors of one F16 row: each chunk of up to F16_CHUNK weights is first
     * widened into {@code chunk} by a plain loop of {@link Float#float16ToFloat}, which C2's auto-vectoriser
     * compiles to the CPU's own conversion where it has one (VCVTPH2PS on x86 with F16C: ~0.03 ns per weight
     * here), then multiplied by x from L1. Widening in registers with the Vector API, which has no F16
     * conversion, took integer tricks at ~8-9 GB/s of weights; this reaches 14-16 GB/s (one thread, weights out
     * of cache). The widening is exact, so the result is the same whether or not the loop was vectorised
     * (interpreter, C1, no F16C).
     */
    private static float rowDotF16(int cols, MemorySegment w, long row, float[] x, float[] chunk) {
        FloatVector a0 = FloatVector.zero(Simd.F), a1 = a0, a2 = a0, a3 = a0;
        int whole = cols - cols % VL;
        for (int start = 0; start < whole; start += F16_CHUNK) {
            int n = Math.min(F16_CHUNK, whole - start);
            widenF16(w, row + start, n, chunk);
            int c = 0;
            for (; c + 4 * VL <= n; c += 4 * VL) {
                a0 = FloatVector.fromArray(Simd.F, chunk, c).fma(FloatVector.fromArray(Simd.F, x, start + c), a0);
                a1 = FloatVector.fromArray(Simd.F, chunk, c + VL).fma(FloatVector.fromArray(Simd.F, x, start + c + VL), a1);
                a2 = FloatVector.fromArray(Simd.F, chunk, c + 2 * VL).fma(FloatVector.fromArray(Simd.F, x, start + c + 2 * VL), a2);
                a3 = FloatVector.fromArray(Simd.F, chunk, c + 3 * VL).fma(FloatVector.fromArray(Simd.F, x, start + c + 3 * VL), a3);
            }
            for (; c < n; c += VL) a0 = FloatVector.fromArray(Simd.F, chunk, c).fma(FloatVector.fromArray(Simd.F, x, start + c), a0);
        }
        return Simd.sumLanes(a0.add(a1).add(a2.add(a3)));
    }

    /** out[0, n) = the n F16 values at element {@code at} of w, widened (a loop C2 vectorises; see rowDotF16). */
    private static void widenF16(MemorySegment w, long at, int n, float[] out) {
        for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(w.getAtIndex(I16, at + i));
    }

    private static void reduceInto(float[] partial, FloatVector s0, FloatVector s1, FloatVector s2, FloatVector s3) {
        partial[0] = Simd.sumLanes(s0);
        partial[1] = Simd.sumLanes(s1);
        partial[2] = Simd.sumLanes(s2);
        partial[3] = Simd.sumLanes(s3);
    }
}
