package dev.retort.tensor.kernels.simd;

import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * y = W·x with W in Q8_0 ({@link Q8Block}: per 32 weights of a row, an F16 scale d and 32 int8 q), read in place:
 * 34 bytes per 32 weights, about a quarter of F32's. x and y are F32.
 *
 * <p>Per row [cols], per block b: t = Σ_j q_j·x_j over the block's 32 columns (int8 widened to F32 in registers,
 * one FMA per L lanes), then acc += t·d_b; the lanes of acc are summed at the end of the row in
 * {@link Simd#sumLanes}'s fixed order. The weights are the exact q·d of the dequantised matrix; only the
 * association differs from the F32 matvec (d applied once per block, after the block's sum), so the two agree
 * within float rounding: both are within γ(cols + 2)·Σ|w·x| of the exact product (γ(n) = n·u / (1 − n·u),
 * u = 2⁻²⁴), which is what the tests check.
 *
 * <p>Rows are read one after the other, each one sequential stream (short rows interleaved are short streams
 * the prefetchers do not ramp up on: see {@link SimdGemm#matvec}). Tasks are blocks of rows, their split a
 * function of the shape only, and every y element is one row's sum, so results are bitwise the same for any
 * number of threads and for a vector alone or in a batch ({@link #matvecs}).
 */
final class Q8Matvec {
    private Q8Matvec() {}

    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ORDER);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final int L = Simd.L;
    /**
     * int8 lanes per load: as many as F32 lanes (L) where such a byte vector exists (64 bits and up, so L ≥ 8),
     * else 8; each load is widened to PARTS float vectors (1 at 256 and 512 bits).
     */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * L)));
    private static final int BL = B.length();
    private static final int PARTS = BL / L;
    /** Weights per task, as {@link SimdGemm}'s matvec. */
    private static final long GRAIN = 1 << 16;

    /**
     * Y[i] = W·X[i] for i below count: W Q8_0 [rows × cols] from element wOffset with row stride ldw (all multiples
     * of 32), X F32 [count × cols], Y F32 [count × rows]. Within a task each group of four rows is multiplied by
     * every vector before the next group, so the rows come from memory once and from L1 for the other vectors.
     */
    static void matvecs(int count, int rows, int cols, MemorySegment w, long wOffset, int ldw,
                        MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        if (rows == 0 || count == 0) return;
        int tasks = ThreadPool.tasksFor((long) rows * Math.max(cols, 1), GRAIN, (rows + 3) / 4);
        int rowsPerTask = ((rows + tasks - 1) / tasks + 3) / 4 * 4;
        int blocks = cols / Q8Block.BLOCK;
        long rowBytes = (long) ldw / Q8Block.BLOCK * Q8Block.BYTES, wAt = Q8Block.blockAt(wOffset);
        ThreadPool.shared().parallelFor((rows + rowsPerTask - 1) / rowsPerTask, task -> {
            int end = Math.min(rows, (task + 1) * rowsPerTask);
            for (int r0 = task * rowsPerTask; r0 < end; r0 += 4) {
                int r1 = Math.min(end, r0 + 4);
                for (int i = 0; i < count; i++) {
                    long xAt = (xOffset + (long) i * cols) * 4, yRow = yOffset + (long) i * rows;
                    for (int r = r0; r < r1; r++) {
                        y.setAtIndex(F32, yRow + r, rowDot(w, wAt + r * rowBytes, blocks, x, xAt));
                    }
                }
            }
        });
    }

    /** Σ over the row's blocks of d·(q · x), the row starting at byte {@code at}, x at byte {@code xAt}. */
    private static float rowDot(MemorySegment w, long at, int blocks, MemorySegment x, long xAt) {
        FloatVector acc0 = FloatVector.zero(Simd.F), acc1 = acc0;
        int b = 0;
        for (; b + 2 <= blocks; b += 2) {
            long block = at + (long) b * Q8Block.BYTES, xs = xAt + (long) b * Q8Block.BLOCK * 4;
            FloatVector d0 = FloatVector.broadcast(Simd.F, scale(w, block));
            FloatVector d1 = FloatVector.broadcast(Simd.F, scale(w, block + Q8Block.BYTES));
            acc0 = blockDot(w, block + 2, x, xs).fma(d0, acc0);
            acc1 = blockDot(w, block + Q8Block.BYTES + 2, x, xs + Q8Block.BLOCK * 4).fma(d1, acc1);
        }
        if (b < blocks) {
            long block = at + (long) b * Q8Block.BYTES;
            FloatVector d0 = FloatVector.broadcast(Simd.F, scale(w, block));
            acc0 = blockDot(w, block + 2, x, xAt + (long) b * Q8Block.BLOCK * 4).fma(d0, acc0);
        }
        return Simd.sumLanes(acc0.add(acc1));
    }

    /**
     * The block's scale d, widened by the intrinsic alone: {@link Half#f16ToFloat} also quiets a signalling NaN,
     * which changes nothing here (any arithmetic on a NaN gives a quiet NaN) and costs a branch per block: without
     * it a 2048 x 768 matvec ran at 14-15 GB/s of CPU time instead of 9-12 (Zen 4, one thread, a loaded machine).
     */
    private static float scale(MemorySegment w, long block) {
        return Float.float16ToFloat(w.get(F16, block));
    }

    /** Lane sums of q·x over one block: the 32 int8 at byte {@code quants}, x [32] at byte {@code xAt}. */
    private static FloatVector blockDot(MemorySegment w, long quants, MemorySegment x, long xAt) {
        FloatVector t = FloatVector.zero(Simd.F);
        for (int p = 0; p < Q8Block.BLOCK; p += BL) {
            ByteVector q = ByteVector.fromMemorySegment(B, w, quants + p, ORDER);
            for (int part = 0; part < PARTS; part++) {
                FloatVector wq = (FloatVector) q.convertShape(VectorOperators.B2F, Simd.F, part);
                t = wq.fma(FloatVector.fromMemorySegment(Simd.F, x, xAt + 4L * (p + part * L), ORDER), t);
            }
        }
        return t;
    }

    /** out[to .. to + dim) = the Q8_0 row at element {@code from} of {@code table} (dim a multiple of 32), dequantised. */
    static void dequantizeRow(MemorySegment table, long from, MemorySegment out, long to, int dim) {
        long at = Q8Block.blockAt(from);
        for (int b = 0; b < dim / Q8Block.BLOCK; b++, at += Q8Block.BYTES) {
            FloatVector d = FloatVector.broadcast(Simd.F, Half.f16ToFloat(table.get(F16, at)));
            for (int p = 0; p < Q8Block.BLOCK; p += BL) {
                ByteVector q = ByteVector.fromMemorySegment(B, table, at + 2 + p, ORDER);
                for (int part = 0; part < PARTS; part++) {
                    long o = (to + (long) b * Q8Block.BLOCK + p + (long) part * L) * 4;
                    ((FloatVector) q.convertShape(VectorOperators.B2F, Simd.F, part)).mul(d).intoMemorySegment(out, o, ORDER);
                }
            }
        }
    }
}
