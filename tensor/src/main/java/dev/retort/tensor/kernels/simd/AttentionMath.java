package dev.retort.tensor.kernels.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector building blocks of {@link SimdAttention}: dot products over the head dimension, an exp, and a
 * lane sum, all written so that their results are the same bits however the code is run.
 *
 * <p>Why not {@code reduceLanes(ADD)} and {@code lanewise(EXP)}: the Vector API lets both pick their own order
 * of operations or algorithm, and the interpreter, C1 and C2 (and x86 and ARM) do pick differently, so a kernel
 * could give different bits once it is JIT-compiled. Here the lane sum is an explicit butterfly and exp an
 * explicit polynomial of plain IEEE operations (add, mul, fma, conversions), which are exact in every tier.
 *
 * <p>Vectors over D (head dim) use full vectors for the first {@code F.loopBound(D)} elements and one masked
 * vector for the rest, so any D works at any width (D = 1 at 512 bits is a single masked lane).
 */
final class AttentionMath {
    private AttentionMath() {}

    static final VectorSpecies<Float> F = Simd.F;
    static final int L = F.length();
    static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** The sum of all lanes in a fixed order ({@link Simd#sumLanes}). */
    static float sumLanes(FloatVector v) {
        return Simd.sumLanes(v);
    }

    /**
     * A masked load, for the tail vector only. Whole-vector loads call the Vector API directly: a helper like
     * this one can stay a call in C2 ("already compiled into a big method"), and a vector it returns into a
     * loop is boxed on every iteration (measured: 1.9 GB per 37 s of lora-kd steps in {@link #dot}). Masked
     * loads stay behind it because C1, which inlines every Vector API call, runs out of registers on methods
     * with several masked loads written out.
     */
    static FloatVector load(MemorySegment segment, long byteOffset, VectorMask<Float> mask) {
        return FloatVector.fromMemorySegment(F, segment, byteOffset, ORDER, mask);
    }

    // ---- exp ------------------------------------------------------------------------------------------

    private static final float LOG2E = 1.44269504f;
    /** ln 2 split in two: LN2_HI has few significant bits, so n·LN2_HI is exact for |n| ≤ 127. */
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5·2²³: adding it rounds a float of magnitude &lt; 2²² to an integer (ties to even). */
    private static final float ROUND = 12582912f;
    /** Below this, 2ⁿ would be subnormal: the result is flushed to 0 (also exp(−∞) = 0). */
    private static final float MIN_ARG = -87.3f;
    private static final float MAX_ARG = 88.0f;
    // Taylor coefficients 1/k! for k = 2..7: on |r| ≤ ln2/2 the truncation error is below 5e-9 relative.
    private static final float C2 = 1f / 2, C3 = 1f / 6, C4 = 1f / 24, C5 = 1f / 120, C6 = 1f / 720, C7 = 1f / 5040;

    /** e^x for each lane, within a few ulp; 0 for x &lt; −87.3 (including −∞); finite up to x = 88. */
    static FloatVector exp(FloatVector x) {
        FloatVector clamped = x.max(MIN_ARG).min(MAX_ARG);
        // e^x = 2ⁿ · e^r with n = round(x·log2 e) and r = x − n·ln 2 ∈ [−ln2/2, ln2/2]
        FloatVector n = clamped.fma(LOG2E, ROUND).sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), clamped);
        r = n.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = r.fma(C7, C6);
        p = p.fma(r, FloatVector.broadcast(F, C5));
        p = p.fma(r, FloatVector.broadcast(F, C4));
        p = p.fma(r, FloatVector.broadcast(F, C3));
        p = p.fma(r, FloatVector.broadcast(F, C2));
        p = p.fma(r, FloatVector.broadcast(F, 1f));
        p = p.fma(r, FloatVector.broadcast(F, 1f));
        IntVector exponent = (IntVector) n.convert(VectorOperators.F2I, 0);
        FloatVector twoToN = exponent.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return p.mul(twoToN).blend(0f, x.lt(MIN_ARG));
    }

    /** The scalar twin of {@link #exp(FloatVector)}: the same operations, so the same bits. */
    static float exp(float x) {
        if (x < MIN_ARG) return 0f;
        float clamped = Math.min(x, MAX_ARG);
        float n = Math.fma(clamped, LOG2E, ROUND) - ROUND;
        float r = Math.fma(n, -LN2_HI, clamped);
        r = Math.fma(n, -LN2_LO, r);
        float p = Math.fma(r, C7, C6);
        p = Math.fma(p, r, C5);
        p = Math.fma(p, r, C4);
        p = Math.fma(p, r, C3);
        p = Math.fma(p, r, C2);
        p = Math.fma(p, r, 1f);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    /** x[from..from+n) = exp(x − shift) in place; returns the sum of the new values (fixed order). */
    static float expShiftedInPlace(float[] x, int from, int n, float shift) {
        FloatVector shiftV = FloatVector.broadcast(F, shift);
        FloatVector total = FloatVector.zero(F);
        int j = 0;
        for (int bound = F.loopBound(n); j < bound; j += L) {
            FloatVector p = exp(FloatVector.fromArray(F, x, from + j).sub(shiftV));
            p.intoArray(x, from + j);
            total = total.add(p);
        }
        if (j < n) {
            VectorMask<Float> tail = F.indexInRange(j, n);
            FloatVector p = exp(FloatVector.fromArray(F, x, from + j, tail).sub(shiftV));
            p.intoArray(x, from + j, tail);
            total = total.add(p, tail);
        }
        // Simd.sumLanes written out: with two exps here C2 reaches its inlining node budget and left that call a
        // call, so the accumulator was boxed on every iteration (0.4 GB per 37 s of lora-kd steps)
        if (L > 8) total = total.add(total.rearrange(Simd.SWAP_8));
        if (L > 4) total = total.add(total.rearrange(Simd.SWAP_4));
        if (L > 2) total = total.add(total.rearrange(Simd.SWAP_2));
        return total.add(total.rearrange(Simd.SWAP_1)).lane(0);
    }

    // ---- dot products ---------------------------------------------------------------------------------

    /** a·b over {@code dim} floats at two byte offsets; {@code tail} = F.indexInRange(F.loopBound(dim), dim). */
    static float dot(MemorySegment a, long aByte, MemorySegment b, long bByte, int dim, VectorMask<Float> tail) {
        FloatVector acc = FloatVector.zero(F);
        int d = 0;
        for (int bound = F.loopBound(dim); d < bound; d += L) {
            acc = FloatVector.fromMemorySegment(F, a, aByte + 4L * d, ORDER)
                    .fma(FloatVector.fromMemorySegment(F, b, bByte + 4L * d, ORDER), acc);
        }
        if (d < dim) acc = load(a, aByte + 4L * d, tail).fma(load(b, bByte + 4L * d, tail), acc);
        return sumLanes(acc);
    }

    /**
     * scores[j] = scale · x·rows_j for j in [0, count): x is one row of {@code dim} floats, rows_j start
     * {@code rowStride} bytes apart. Returns the largest score. Four rows at a time share each load of x and
     * give four independent FMA chains. For tiles too small to pay for packing (decode); tiles with many query
     * rows use {@link #packTransposed} and {@link #scoreRows}, which need no lane sum per score.
     */
    static float scoreRow(MemorySegment x, long xByte, MemorySegment rows, long rowsByte, long rowStride,
                          int count, int dim, VectorMask<Float> tail, float scale, float[] scores, int scoresFrom) {
        float max = Float.NEGATIVE_INFINITY;
        int bound = F.loopBound(dim);
        int j = 0;
        for (; j + 4 <= count; j += 4) {
            long r0 = rowsByte + j * rowStride, r1 = r0 + rowStride, r2 = r1 + rowStride, r3 = r2 + rowStride;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            int d = 0;
            for (; d < bound; d += L) {
                FloatVector xv = FloatVector.fromMemorySegment(F, x, xByte + 4L * d, ORDER);
                a0 = FloatVector.fromMemorySegment(F, rows, r0 + 4L * d, ORDER).fma(xv, a0);
                a1 = FloatVector.fromMemorySegment(F, rows, r1 + 4L * d, ORDER).fma(xv, a1);
                a2 = FloatVector.fromMemorySegment(F, rows, r2 + 4L * d, ORDER).fma(xv, a2);
                a3 = FloatVector.fromMemorySegment(F, rows, r3 + 4L * d, ORDER).fma(xv, a3);
            }
            if (d < dim) {
                FloatVector xv = load(x, xByte + 4L * d, tail);
                a0 = load(rows, r0 + 4L * d, tail).fma(xv, a0);
                a1 = load(rows, r1 + 4L * d, tail).fma(xv, a1);
                a2 = load(rows, r2 + 4L * d, tail).fma(xv, a2);
                a3 = load(rows, r3 + 4L * d, tail).fma(xv, a3);
            }
            float s0 = sumLanes(a0) * scale, s1 = sumLanes(a1) * scale;
            float s2 = sumLanes(a2) * scale, s3 = sumLanes(a3) * scale;
            scores[scoresFrom + j] = s0;
            scores[scoresFrom + j + 1] = s1;
            scores[scoresFrom + j + 2] = s2;
            scores[scoresFrom + j + 3] = s3;
            max = Math.max(max, Math.max(Math.max(s0, s1), Math.max(s2, s3)));
        }
        for (; j < count; j++) {
            float s = dot(rows, rowsByte + j * rowStride, x, xByte, dim, tail) * scale;
            scores[scoresFrom + j] = s;
            max = Math.max(max, s);
        }
        return max;
    }

    // ---- scores against a packed block ----------------------------------------------------------------

    /** Columns of a packed block: Kᵀ is [dim × PACKED] floats, key j of the block in column j. */
    static final int PACKED = SimdAttention.KEY_BLOCK;
    /** Rows per call of the micro-kernels {@link #scoreRows} and {@link #accumulateRows}. */
    static final int MICRO_ROWS = 4;

    /**
     * packed[d·PACKED + j] = rows_j[d] for j in [0, count), d in [0, dim): the transpose of a block of
     * {@code count} ≤ PACKED rows that start {@code rowStride} bytes apart; the columns from count up to the next
     * multiple of L are zero, so {@link #scoreRows} reads whole vectors of finite numbers.
     */
    static void packTransposed(MemorySegment rows, long rowsByte, long rowStride, int count, int dim, float[] packed) {
        for (int j = 0; j < count; j++) {
            long row = rowsByte + j * rowStride;
            for (int d = 0; d < dim; d++) packed[d * PACKED + j] = rows.get(F32, row + 4L * d);
        }
        int padded = Math.min(PACKED, (count + L - 1) / L * L);
        for (int d = 0; d < dim; d++) Arrays.fill(packed, d * PACKED + count, d * PACKED + padded, 0f);
    }

    /**
     * Scores of {@link #MICRO_ROWS} query rows against a packed block, GEMM-shaped:
     * scores[from + r·stride + j] = scale · x_r·k_j for r in [0, 4) and j in [0, keys rounded up to L), where x_r
     * is the row of {@code dim} floats at byte xByte_r of x and packed = Kᵀ [dim × PACKED] from
     * {@link #packTransposed}. Loops d outside and keys inside: x_r[d] is broadcast and multiplied into the
     * [4 rows × 4 key vectors] accumulators by packed row d, so no score needs a lane sum.
     *
     * <p>Every score is one FMA chain over d = 0, 1, …, dim−1 starting from zero, then one multiply by scale,
     * whatever rows share the call: a row's scores are the same bits in any grouping. So a caller with fewer
     * than four rows passes its last row again for the missing ones (their scores land in rows nobody reads).
     * Scores past {@code keys} (up to the vector) are those of padding or of keys the row may not see: the caller
     * reads only each row's visible ones.
     */
    static void scoreRows(MemorySegment x, long x0, long x1, long x2, long x3, float[] packed, int keys, int dim,
                          float scale, float[] scores, int from, int stride) {
        int vectors = (keys + L - 1) / L;
        int o0 = from, o1 = o0 + stride, o2 = o1 + stride, o3 = o2 + stride;
        int c = 0;
        for (; c + 4 <= vectors; c += 4) {
            int col = c * L;
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
            FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
            FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int d = 0; d < dim; d++) {
                int k = d * PACKED + col;
                FloatVector k0 = FloatVector.fromArray(F, packed, k);
                FloatVector k1 = FloatVector.fromArray(F, packed, k + L);
                FloatVector k2 = FloatVector.fromArray(F, packed, k + 2 * L);
                FloatVector k3 = FloatVector.fromArray(F, packed, k + 3 * L);
                FloatVector q = FloatVector.broadcast(F, x.get(F32, x0 + 4L * d));
                a00 = k0.fma(q, a00); a01 = k1.fma(q, a01); a02 = k2.fma(q, a02); a03 = k3.fma(q, a03);
                q = FloatVector.broadcast(F, x.get(F32, x1 + 4L * d));
                a10 = k0.fma(q, a10); a11 = k1.fma(q, a11); a12 = k2.fma(q, a12); a13 = k3.fma(q, a13);
                q = FloatVector.broadcast(F, x.get(F32, x2 + 4L * d));
                a20 = k0.fma(q, a20); a21 = k1.fma(q, a21); a22 = k2.fma(q, a22); a23 = k3.fma(q, a23);
                q = FloatVector.broadcast(F, x.get(F32, x3 + 4L * d));
                a30 = k0.fma(q, a30); a31 = k1.fma(q, a31); a32 = k2.fma(q, a32); a33 = k3.fma(q, a33);
            }
            a00.mul(scale).intoArray(scores, o0 + col); a01.mul(scale).intoArray(scores, o0 + col + L);
            a02.mul(scale).intoArray(scores, o0 + col + 2 * L); a03.mul(scale).intoArray(scores, o0 + col + 3 * L);
            a10.mul(scale).intoArray(scores, o1 + col); a11.mul(scale).intoArray(scores, o1 + col + L);
            a12.mul(scale).intoArray(scores, o1 + col + 2 * L); a13.mul(scale).intoArray(scores, o1 + col + 3 * L);
            a20.mul(scale).intoArray(scores, o2 + col); a21.mul(scale).intoArray(scores, o2 + col + L);
            a22.mul(scale).intoArray(scores, o2 + col + 2 * L); a23.mul(scale).intoArray(scores, o2 + col + 3 * L);
            a30.mul(scale).intoArray(scores, o3 + col); a31.mul(scale).intoArray(scores, o3 + col + L);
            a32.mul(scale).intoArray(scores, o3 + col + 2 * L); a33.mul(scale).intoArray(scores, o3 + col + 3 * L);
        }
        for (; c < vectors; c++) { // the last one to three key vectors of a block
            int col = c * L;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < dim; d++) {
                FloatVector k = FloatVector.fromArray(F, packed, d * PACKED + col);
                a0 = k.fma(FloatVector.broadcast(F, x.get(F32, x0 + 4L * d)), a0);
                a1 = k.fma(FloatVector.broadcast(F, x.get(F32, x1 + 4L * d)), a1);
                a2 = k.fma(FloatVector.broadcast(F, x.get(F32, x2 + 4L * d)), a2);
                a3 = k.fma(FloatVector.broadcast(F, x.get(F32, x3 + 4L * d)), a3);
            }
            a0.mul(scale).intoArray(scores, o0 + col);
            a1.mul(scale).intoArray(scores, o1 + col);
            a2.mul(scale).intoArray(scores, o2 + col);
            a3.mul(scale).intoArray(scores, o3 + col);
        }
    }

    /** The largest of x[from..from+n), n ≥ 1. */
    static float max(float[] x, int from, int n) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (int bound = F.loopBound(n); j < bound; j += L) m = m.max(FloatVector.fromArray(F, x, from + j));
        if (j < n) {
            VectorMask<Float> tail = F.indexInRange(j, n);
            m = m.lanewise(VectorOperators.MAX, FloatVector.fromArray(F, x, from + j, tail), tail);
        }
        return m.reduceLanes(VectorOperators.MAX); // max is exact: any order gives the same bits
    }

    // ---- weighted sums of rows ------------------------------------------------------------------------

    /** acc[from..from+n) *= factor. */
    static void multiply(float[] acc, int from, int n, float factor) {
        int d = 0;
        for (int bound = F.loopBound(n); d < bound; d += L) {
            FloatVector.fromArray(F, acc, from + d).mul(factor).intoArray(acc, from + d);
        }
        if (d < n) {
            VectorMask<Float> tail = F.indexInRange(d, n);
            FloatVector.fromArray(F, acc, from + d, tail).mul(factor).intoArray(acc, from + d, tail);
        }
    }

    /**
     * Four weighted sums of the same rows at once, GEMM-shaped (P·V, dS·K, Pᵀ·dO, dSᵀ·Q):
     * acc[a_r + d] += Σ_{t &lt; count} weights[w_r + t·weightsStride] · rows_t[d] for r in [0, 4) and d in
     * [0, dim), where rows_t is the row of {@code dim} floats at byte rowsByte + t·rowStride. Each slice of a
     * row is loaded once for the four sums: two vectors of D at a time give 4 × 2 accumulators, and an odd
     * count of whole vectors starts with a slice of three (D = 48 at 16 lanes: one pass of 4 × 3 rather than
     * 2 + 1, whose one-vector pass has only four FMA chains to hide the latency with); then the masked tail
     * ({@code tail} = F.indexInRange(F.loopBound(dim), dim)).
     *
     * <p>Every element is one FMA chain over t = 0, 1, …, count−1 continuing from its value in acc, the same
     * chain as {@link #accumulate}: a caller may split a row's sum between the two at any t, or give a row to
     * either, without changing its bits.
     */
    static void accumulateRows(float[] acc, int a0, int a1, int a2, int a3,
                               float[] weights, int w0, int w1, int w2, int w3, int weightsStride, int count,
                               MemorySegment rows, long rowsByte, long rowStride, int dim, VectorMask<Float> tail) {
        int bound = F.loopBound(dim), vectors = bound / L;
        int d = 0;
        if (vectors == 1) {
            accumulateRows1(acc, a0, a1, a2, a3, weights, w0, w1, w2, w3, weightsStride, count, rows, rowsByte, rowStride);
            d = L;
        } else if (vectors % 2 == 1) {
            accumulateRows3(acc, a0, a1, a2, a3, weights, w0, w1, w2, w3, weightsStride, count, rows, rowsByte, rowStride);
            d = 3 * L;
        }
        for (; d < bound; d += 2 * L) {
            accumulateRows2(acc, a0 + d, a1 + d, a2 + d, a3 + d, weights, w0, w1, w2, w3, weightsStride, count,
                    rows, rowsByte + 4L * d, rowStride);
        }
        if (d < dim) {
            accumulateRowsTail(acc, a0 + d, a1 + d, a2 + d, a3 + d, weights, w0, w1, w2, w3, weightsStride, count,
                    rows, rowsByte + 4L * d, rowStride, tail);
        }
    }

    /**
     * Two vectors of D of {@link #accumulateRows}: 4 × 2 accumulators. (Each width of slice is its own method:
     * with all of them written out in one method, C2 compiled its FMAs as calls to the Java fallback, seen in
     * JFR as VectorSupport.ternaryOp, and attention ran 12× slower.)
     */
    private static void accumulateRows2(float[] acc, int a0, int a1, int a2, int a3,
                                        float[] weights, int w0, int w1, int w2, int w3, int weightsStride, int count,
                                        MemorySegment rows, long row, long rowStride) {
        FloatVector c00 = FloatVector.fromArray(F, acc, a0), c01 = FloatVector.fromArray(F, acc, a0 + L);
        FloatVector c10 = FloatVector.fromArray(F, acc, a1), c11 = FloatVector.fromArray(F, acc, a1 + L);
        FloatVector c20 = FloatVector.fromArray(F, acc, a2), c21 = FloatVector.fromArray(F, acc, a2 + L);
        FloatVector c30 = FloatVector.fromArray(F, acc, a3), c31 = FloatVector.fromArray(F, acc, a3 + L);
        for (int t = 0, w = 0; t < count; t++, w += weightsStride, row += rowStride) {
            FloatVector x0 = FloatVector.fromMemorySegment(F, rows, row, ORDER);
            FloatVector x1 = FloatVector.fromMemorySegment(F, rows, row + 4L * L, ORDER);
            FloatVector p = FloatVector.broadcast(F, weights[w0 + w]);
            c00 = x0.fma(p, c00); c01 = x1.fma(p, c01);
            p = FloatVector.broadcast(F, weights[w1 + w]);
            c10 = x0.fma(p, c10); c11 = x1.fma(p, c11);
            p = FloatVector.broadcast(F, weights[w2 + w]);
            c20 = x0.fma(p, c20); c21 = x1.fma(p, c21);
            p = FloatVector.broadcast(F, weights[w3 + w]);
            c30 = x0.fma(p, c30); c31 = x1.fma(p, c31);
        }
        c00.intoArray(acc, a0); c01.intoArray(acc, a0 + L);
        c10.intoArray(acc, a1); c11.intoArray(acc, a1 + L);
        c20.intoArray(acc, a2); c21.intoArray(acc, a2 + L);
        c30.intoArray(acc, a3); c31.intoArray(acc, a3 + L);
    }

    /** Three vectors of D of {@link #accumulateRows}: 4 × 3 accumulators. */
    private static void accumulateRows3(float[] acc, int a0, int a1, int a2, int a3,
                                        float[] weights, int w0, int w1, int w2, int w3, int weightsStride, int count,
                                        MemorySegment rows, long row, long rowStride) {
        FloatVector c00 = FloatVector.fromArray(F, acc, a0), c01 = FloatVector.fromArray(F, acc, a0 + L);
        FloatVector c02 = FloatVector.fromArray(F, acc, a0 + 2 * L), c10 = FloatVector.fromArray(F, acc, a1);
        FloatVector c11 = FloatVector.fromArray(F, acc, a1 + L), c12 = FloatVector.fromArray(F, acc, a1 + 2 * L);
        FloatVector c20 = FloatVector.fromArray(F, acc, a2), c21 = FloatVector.fromArray(F, acc, a2 + L);
        FloatVector c22 = FloatVector.fromArray(F, acc, a2 + 2 * L), c30 = FloatVector.fromArray(F, acc, a3);
        FloatVector c31 = FloatVector.fromArray(F, acc, a3 + L), c32 = FloatVector.fromArray(F, acc, a3 + 2 * L);
        for (int t = 0, w = 0; t < count; t++, w += weightsStride, row += rowStride) {
            FloatVector x0 = FloatVector.fromMemorySegment(F, rows, row, ORDER);
            FloatVector x1 = FloatVector.fromMemorySegment(F, rows, row + 4L * L, ORDER);
            FloatVector x2 = FloatVector.fromMemorySegment(F, rows, row + 8L * L, ORDER);
            FloatVector p = FloatVector.broadcast(F, weights[w0 + w]);
            c00 = x0.fma(p, c00); c01 = x1.fma(p, c01); c02 = x2.fma(p, c02);
            p = FloatVector.broadcast(F, weights[w1 + w]);
            c10 = x0.fma(p, c10); c11 = x1.fma(p, c11); c12 = x2.fma(p, c12);
            p = FloatVector.broadcast(F, weights[w2 + w]);
            c20 = x0.fma(p, c20); c21 = x1.fma(p, c21); c22 = x2.fma(p, c22);
            p = FloatVector.broadcast(F, weights[w3 + w]);
            c30 = x0.fma(p, c30); c31 = x1.fma(p, c31); c32 = x2.fma(p, c32);
        }
        c00.intoArray(acc, a0); c01.intoArray(acc, a0 + L); c02.intoArray(acc, a0 + 2 * L);
        c10.intoArray(acc, a1); c11.intoArray(acc, a1 + L); c12.intoArray(acc, a1 + 2 * L);
        c20.intoArray(acc, a2); c21.intoArray(acc, a2 + L); c22.intoArray(acc, a2 + 2 * L);
        c30.intoArray(acc, a3); c31.intoArray(acc, a3 + L); c32.intoArray(acc, a3 + 2 * L);
    }

    /** One vector of D of {@link #accumulateRows}. */
    private static void accumulateRows1(float[] acc, int a0, int a1, int a2, int a3,
                                        float[] weights, int w0, int w1, int w2, int w3, int weightsStride, int count,
                                        MemorySegment rows, long row, long rowStride) {
        FloatVector c0 = FloatVector.fromArray(F, acc, a0), c1 = FloatVector.fromArray(F, acc, a1);
        FloatVector c2 = FloatVector.fromArray(F, acc, a2), c3 = FloatVector.fromArray(F, acc, a3);
        for (int t = 0, w = 0; t < count; t++, w += weightsStride, row += rowStride) {
            FloatVector x = FloatVector.fromMemorySegment(F, rows, row, ORDER);
            c0 = x.fma(FloatVector.broadcast(F, weights[w0 + w]), c0);
            c1 = x.fma(FloatVector.broadcast(F, weights[w1 + w]), c1);
            c2 = x.fma(FloatVector.broadcast(F, weights[w2 + w]), c2);
            c3 = x.fma(FloatVector.broadcast(F, weights[w3 + w]), c3);
        }
        c0.intoArray(acc, a0); c1.intoArray(acc, a1);
        c2.intoArray(acc, a2); c3.intoArray(acc, a3);
    }

    /** The masked last vector of D of {@link #accumulateRows}. */
    private static void accumulateRowsTail(float[] acc, int a0, int a1, int a2, int a3,
                                           float[] weights, int w0, int w1, int w2, int w3, int weightsStride, int count,
                                           MemorySegment rows, long row, long rowStride, VectorMask<Float> tail) {
        FloatVector c0 = FloatVector.fromArray(F, acc, a0, tail), c1 = FloatVector.fromArray(F, acc, a1, tail);
        FloatVector c2 = FloatVector.fromArray(F, acc, a2, tail), c3 = FloatVector.fromArray(F, acc, a3, tail);
        for (int t = 0, w = 0; t < count; t++, w += weightsStride, row += rowStride) {
            FloatVector x = load(rows, row, tail);
            c0 = x.fma(FloatVector.broadcast(F, weights[w0 + w]), c0);
            c1 = x.fma(FloatVector.broadcast(F, weights[w1 + w]), c1);
            c2 = x.fma(FloatVector.broadcast(F, weights[w2 + w]), c2);
            c3 = x.fma(FloatVector.broadcast(F, weights[w3 + w]), c3);
        }
        c0.intoArray(acc, a0, tail); c1.intoArray(acc, a1, tail);
        c2.intoArray(acc, a2, tail); c3.intoArray(acc, a3, tail);
    }

    /**
     * acc[accFrom..accFrom+dim) += Σ_j w_j · rows_j for j in [0, count), where w_j = weights[weightsFrom +
     * j·weightsStride] (a row or a column of a tile) and the rows lie {@code rowStride} bytes apart in
     * {@code rows}: one row of {@link #accumulateRows}, for the rows and ranges that do not come in fours. Loops
     * D outside and j inside so that each D slice of the accumulator stays in registers over all rows; four
     * slices at once give four independent FMA chains.
     */
    static void accumulate(float[] acc, int accFrom, float[] weights, int weightsFrom, int weightsStride, int count,
                           MemorySegment rows, long rowsByte, long rowStride, int dim, VectorMask<Float> tail) {
        int bound = F.loopBound(dim);
        int d = 0;
        for (; d + 4 * L <= bound; d += 4 * L) {
            FloatVector a0 = FloatVector.fromArray(F, acc, accFrom + d);
            FloatVector a1 = FloatVector.fromArray(F, acc, accFrom + d + L);
            FloatVector a2 = FloatVector.fromArray(F, acc, accFrom + d + 2 * L);
            FloatVector a3 = FloatVector.fromArray(F, acc, accFrom + d + 3 * L);
            long row = rowsByte + 4L * d;
            for (int j = 0; j < count; j++, row += rowStride) {
                FloatVector w = FloatVector.broadcast(F, weights[weightsFrom + j * weightsStride]);
                a0 = FloatVector.fromMemorySegment(F, rows, row, ORDER).fma(w, a0);
                a1 = FloatVector.fromMemorySegment(F, rows, row + 4L * L, ORDER).fma(w, a1);
                a2 = FloatVector.fromMemorySegment(F, rows, row + 8L * L, ORDER).fma(w, a2);
                a3 = FloatVector.fromMemorySegment(F, rows, row + 12L * L, ORDER).fma(w, a3);
            }
            a0.intoArray(acc, accFrom + d);
            a1.intoArray(acc, accFrom + d + L);
            a2.intoArray(acc, accFrom + d + 2 * L);
            a3.intoArray(acc, accFrom + d + 3 * L);
        }
        for (; d < bound; d += L) {
            FloatVector a = FloatVector.fromArray(F, acc, accFrom + d);
            long row = rowsByte + 4L * d;
            for (int j = 0; j < count; j++, row += rowStride) {
                a = FloatVector.fromMemorySegment(F, rows, row, ORDER)
                        .fma(FloatVector.broadcast(F, weights[weightsFrom + j * weightsStride]), a);
            }
            a.intoArray(acc, accFrom + d);
        }
        if (d < dim) {
            FloatVector a = FloatVector.fromArray(F, acc, accFrom + d, tail);
            long row = rowsByte + 4L * d;
            for (int j = 0; j < count; j++, row += rowStride) {
                a = load(rows, row, tail).fma(FloatVector.broadcast(F, weights[weightsFrom + j * weightsStride]), a);
            }
            a.intoArray(acc, accFrom + d, tail);
        }
    }
}
