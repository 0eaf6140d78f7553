package dev.retort.tensor.kernels.simd;

import static dev.retort.tensor.kernels.ElementwiseSupport.checkBinary;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkF32;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkRows;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkVectors;

import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.ElementwiseSupport;
import dev.retort.tensor.kernels.KdTerm;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise kernels with the Vector API at this copy's width ({@link Simd#BITS}).
 *
 * <p>Loops step one vector at a time; the last, partial vector of a run gets a mask, so each element goes
 * through the same arithmetic whatever its position (no scalar tail with different rounding), and a dimension
 * smaller than one vector is one masked step. The work is cut into tasks exactly as {@link ElementwiseSupport}
 * says, so results do not depend on the thread count; reductions add their vector accumulators lane-wise,
 * then the lanes in index order (never {@code reduceLanes(ADD)}, whose order the API leaves open and which
 * could differ between the interpreter and compiled code).
 *
 * <p>Keeping vectors in registers: the JIT only avoids allocating a box per vector where it inlines every
 * method that takes or returns one, and its heuristics decide that run by run: a small load helper that got
 * compiled on its own first stays a call ("already compiled into a big method"), and so does one on a rarely
 * taken branch (the masked tail inside a load helper); a vector that meets such a call in a phi is then boxed
 * on every iteration (measured: 8 GB per 37 s of lora-kd steps in {@link #axpy} alone). So loops call the
 * Vector API, which is always inlined, directly, and no vector crosses a method of this class in a loop (only
 * {@link VectorMath}'s functions take one there): a loop runs whole vectors unmasked, then repeats its step once
 * under the mask {@code F.indexInRange} for the tail (masked-off lanes load as 0 and are not stored); short or
 * cold loops (interleaved rope, the embedding scatter) carry that mask in every step, simpler but slower.
 * Where the step holds an exp, the tail is a method of its own: with both forms of every load and store the
 * JIT exceeds its inlining node budget and leaves the exp a call. C1, which inlines every Vector API call,
 * gives up ("out of virtual registers") on methods with many masked loads and stores written out, and a
 * method it gives up on can stay at a tier that boxes everything; so long tails go through
 * {@link #loadSome}/{@link #storeSome}, and loops are split where one method grew too big. Lanes are summed
 * from an array ({@link #addLanes}), never by a method that takes the vector.
 */
public final class SimdElementwise implements Elementwise {
    private static final VectorSpecies<Float> F = Simd.F;
    private static final VectorSpecies<Integer> I = Simd.I;
    private static final VectorSpecies<Short> S = Simd.S;
    /** Floats per vector. */
    private static final int L = F.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** At most this many row blocks hold a partial dweight in {@link #rmsNormBackward} (bounds the scratch). */
    private static final int MAX_DWEIGHT_PARTIALS = 64;

    // ---- masked tails -------------------------------------------------------------------------------

    /**
     * A masked load (lanes outside m read 0 and touch no memory), for the tail steps of methods with several
     * masked loads and stores: C1 inlines every Vector API call and ran out of virtual registers on such tails
     * written out (rope's), and a method it gives up on may stay at a tier that boxes every vector. A tail runs
     * once per row, so the box this call may cost in C2 is cheap; whole-vector loops never use these.
     */
    private static FloatVector loadSome(MemorySegment s, long element, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(F, s, element * 4, ORDER, m);
    }

    /** A masked store, for tail steps like {@link #loadSome}. */
    private static void storeSome(FloatVector v, MemorySegment s, long element, VectorMask<Float> m) {
        v.intoMemorySegment(s, element * 4, ORDER, m);
    }

    // ---- lane sums -----------------------------------------------------------------------------------

    /** Σ of the lanes (stored into {@code lanes} by the caller) in index order: a fixed order, unlike reduceLanes(ADD). */
    private static float addLanes(float[] lanes) {
        float s = lanes[0];
        for (int i = 1; i < lanes.length; i++) s += lanes[i];
        return s;
    }

    // ---- binary element-wise ------------------------------------------------------------------------

    @Override
    public void add(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride,
                    MemorySegment out, long outOffset) {
        checkBinary(n, a, aOffset, aStride, b, bOffset, bStride, out, outOffset);
        binary(false, n, a, aOffset, aStride, b, bOffset, bStride, out, outOffset);
    }

    @Override
    public void mul(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride,
                    MemorySegment out, long outOffset) {
        checkBinary(n, a, aOffset, aStride, b, bOffset, bStride, out, outOffset);
        binary(true, n, a, aOffset, aStride, b, bOffset, bStride, out, outOffset);
    }

    /**
     * out = a (+ or ·) b. A stride-0 operand is one value broadcast; the branches on stride and operation are
     * loop-invariant, so the JIT unswitches them out of the vector loop.
     */
    private static void binary(boolean multiply, int n, MemorySegment a, long aOffset, int aStride,
                               MemorySegment b, long bOffset, int bStride, MemorySegment out, long outOffset) {
        if (n == 0) return;
        float aValue = a.getAtIndex(F32, aOffset), bValue = b.getAtIndex(F32, bOffset);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector va = aStride == 0 ? FloatVector.broadcast(F, aValue)
                        : FloatVector.fromMemorySegment(F, a, (aOffset + i) * 4, ORDER);
                FloatVector vb = bStride == 0 ? FloatVector.broadcast(F, bValue)
                        : FloatVector.fromMemorySegment(F, b, (bOffset + i) * 4, ORDER);
                (multiply ? va.mul(vb) : va.add(vb)).intoMemorySegment(out, (outOffset + i) * 4, ORDER);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector va = aStride == 0 ? FloatVector.broadcast(F, aValue)
                        : FloatVector.fromMemorySegment(F, a, (aOffset + i) * 4, ORDER, m);
                FloatVector vb = bStride == 0 ? FloatVector.broadcast(F, bValue)
                        : FloatVector.fromMemorySegment(F, b, (bOffset + i) * 4, ORDER, m);
                (multiply ? va.mul(vb) : va.add(vb)).intoMemorySegment(out, (outOffset + i) * 4, ORDER, m);
            }
        });
    }

    @Override
    public void scale(int n, float alpha, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkVectors(n, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER).mul(alpha)
                        .intoMemorySegment(out, (outOffset + i) * 4, ORDER);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER, m).mul(alpha)
                        .intoMemorySegment(out, (outOffset + i) * 4, ORDER, m);
            }
        });
    }

    @Override
    public void axpy(int n, float alpha, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        checkVectors(n, new String[] {"x", "y"}, new MemorySegment[] {x, y}, new long[] {xOffset, yOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            FloatVector a = FloatVector.broadcast(F, alpha);
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                long yAt = (yOffset + i) * 4;
                FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER)
                        .fma(a, FloatVector.fromMemorySegment(F, y, yAt, ORDER)).intoMemorySegment(y, yAt, ORDER);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                long yAt = (yOffset + i) * 4;
                FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER, m)
                        .fma(a, FloatVector.fromMemorySegment(F, y, yAt, ORDER, m)).intoMemorySegment(y, yAt, ORDER, m);
            }
        });
    }

    // ---- reductions ---------------------------------------------------------------------------------

    /**
     * Σ x[base .. base+count) with four vector accumulators (four independent add chains hide the add
     * latency) over blocks of 4L, then one vector at a time (masked-off lanes load as 0); the accumulators are
     * combined as (a0+a1)+(a2+a3), then the lanes in order.
     */
    private static float sumRun(MemorySegment x, long base, int count) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= count - 4 * L; i += 4 * L) {
            long at = (base + i) * 4;
            a0 = a0.add(FloatVector.fromMemorySegment(F, x, at, ORDER));
            a1 = a1.add(FloatVector.fromMemorySegment(F, x, at + L * 4, ORDER));
            a2 = a2.add(FloatVector.fromMemorySegment(F, x, at + 2 * L * 4, ORDER));
            a3 = a3.add(FloatVector.fromMemorySegment(F, x, at + 3 * L * 4, ORDER));
        }
        for (; i < count; i += L) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, x, (base + i) * 4, ORDER, F.indexInRange(i, count)));
        }
        float[] lanes = new float[L];
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        return addLanes(lanes);
    }

    /** Σ x[i]·y[i] over a run, accumulated like {@link #sumRun}. */
    private static float dotRun(MemorySegment x, long xBase, MemorySegment y, long yBase, int count) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= count - 4 * L; i += 4 * L) {
            long xAt = (xBase + i) * 4, yAt = (yBase + i) * 4;
            a0 = FloatVector.fromMemorySegment(F, x, xAt, ORDER).fma(FloatVector.fromMemorySegment(F, y, yAt, ORDER), a0);
            a1 = FloatVector.fromMemorySegment(F, x, xAt + L * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(F, y, yAt + L * 4, ORDER), a1);
            a2 = FloatVector.fromMemorySegment(F, x, xAt + 2 * L * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(F, y, yAt + 2 * L * 4, ORDER), a2);
            a3 = FloatVector.fromMemorySegment(F, x, xAt + 3 * L * 4, ORDER)
                    .fma(FloatVector.fromMemorySegment(F, y, yAt + 3 * L * 4, ORDER), a3);
        }
        for (; i < count; i += L) {
            VectorMask<Float> m = F.indexInRange(i, count);
            a0 = FloatVector.fromMemorySegment(F, x, (xBase + i) * 4, ORDER, m)
                    .fma(FloatVector.fromMemorySegment(F, y, (yBase + i) * 4, ORDER, m), a0);
        }
        float[] lanes = new float[L];
        a0.add(a1).add(a2.add(a3)).intoArray(lanes, 0);
        return addLanes(lanes);
    }

    /** max over a run (count ≥ 1); NaN if any element is NaN. Max is exact, so its lane order cannot matter. */
    private static float maxRun(MemorySegment x, long base, int count) {
        FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i <= count - L; i += L) acc = acc.max(FloatVector.fromMemorySegment(F, x, (base + i) * 4, ORDER));
        if (i < count) {
            VectorMask<Float> m = F.indexInRange(i, count);
            acc = acc.lanewise(VectorOperators.MAX, FloatVector.fromMemorySegment(F, x, (base + i) * 4, ORDER, m), m);
        }
        return acc.reduceLanes(VectorOperators.MAX);
    }

    private interface Run {
        float of(long from, int count);
    }

    /** Fixed chunks of REDUCTION_CHUNK, one partial per chunk, partials added in chunk order. */
    private static float reduceChunks(long n, Run run) {
        int chunks = ElementwiseSupport.reductionChunks(n);
        if (chunks == 0) return 0f;
        if (chunks == 1) return run.of(0, (int) n);
        float[] partial = new float[chunks];
        ThreadPool.shared().parallelFor(chunks, c -> {
            long from = (long) c * ElementwiseSupport.REDUCTION_CHUNK;
            partial[c] = run.of(from, (int) Math.min(ElementwiseSupport.REDUCTION_CHUNK, n - from));
        });
        float s = partial[0];
        for (int c = 1; c < chunks; c++) s += partial[c];
        return s;
    }

    @Override
    public float sum(int n, MemorySegment x, long xOffset) {
        checkVectors(n, new String[] {"x"}, new MemorySegment[] {x}, new long[] {xOffset});
        return reduceChunks(n, (from, count) -> sumRun(x, xOffset + from, count));
    }

    @Override
    public float max(int n, MemorySegment x, long xOffset) {
        if (n < 1) throw new IllegalArgumentException("max needs n >= 1, got " + n);
        checkF32("x", x, xOffset, n);
        int chunks = ElementwiseSupport.reductionChunks(n);
        float[] partial = new float[chunks];
        ThreadPool.shared().parallelFor(chunks, c -> {
            long from = (long) c * ElementwiseSupport.REDUCTION_CHUNK;
            partial[c] = maxRun(x, xOffset + from, (int) Math.min(ElementwiseSupport.REDUCTION_CHUNK, n - from));
        });
        float m = partial[0];
        for (int c = 1; c < chunks; c++) m = Math.max(m, partial[c]);
        return m;
    }

    @Override
    public float dot(int n, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        checkVectors(n, new String[] {"x", "y"}, new MemorySegment[] {x, y}, new long[] {xOffset, yOffset});
        return reduceChunks(n, (from, count) -> dotRun(x, xOffset + from, y, yOffset + from, count));
    }

    // ---- softmax ------------------------------------------------------------------------------------
    // A row whose entries are all −∞ has no defined softmax; it comes out NaN, as in PyTorch.

    @Override
    public void softmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        if (cols == 0) return;
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                float max = maxRun(x, xr, cols);
                // exp(x − max) into out, then scale by 1/Σ (≤ 1.5 ulp more than a division, far cheaper).
                float sum = expShiftedRun(x, xr, max, out, or, cols);
                scaleRun(out, or, 1f / sum, cols);
            }
        });
    }

    /**
     * out[j] = exp(x[j] − max) over a run, returning Σ out[j] (lanes combined in index order). Whole vectors
     * here, the partial last vector in {@link #expShiftedTail}: separate methods with scalar arguments, each a
     * unit the JIT compiles within its node budget.
     */
    private static float expShiftedRun(MemorySegment x, long xBase, float max, MemorySegment out, long outBase,
                                       int count) {
        FloatVector shift = FloatVector.broadcast(F, max), acc = FloatVector.zero(F);
        int j = 0;
        for (; j <= count - L; j += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(F, x, (xBase + j) * 4, ORDER).sub(shift));
            e.intoMemorySegment(out, (outBase + j) * 4, ORDER);
            acc = acc.add(e);
        }
        float[] lanes = new float[L];
        acc.intoArray(lanes, 0);
        float sum = addLanes(lanes);
        return j < count ? sum + expShiftedTail(x, xBase + j, max, out, outBase + j, count - j) : sum;
    }

    /** {@link #expShiftedRun}'s step on the last {@code count} &lt; L elements; returns their sum. */
    private static float expShiftedTail(MemorySegment x, long xBase, float max, MemorySegment out, long outBase,
                                        int count) {
        VectorMask<Float> m = F.indexInRange(0, count);
        FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(F, x, xBase * 4, ORDER, m).sub(max));
        e.intoMemorySegment(out, outBase * 4, ORDER, m);
        float[] lanes = new float[L];
        FloatVector.zero(F).add(e, m).intoArray(lanes, 0);
        return addLanes(lanes);
    }

    /** x[j] *= factor over a run. */
    private static void scaleRun(MemorySegment x, long base, float factor, int count) {
        FloatVector f = FloatVector.broadcast(F, factor);
        int j = 0;
        for (; j <= count - L; j += L) {
            FloatVector.fromMemorySegment(F, x, (base + j) * 4, ORDER).mul(f).intoMemorySegment(x, (base + j) * 4, ORDER);
        }
        if (j < count) {
            VectorMask<Float> m = F.indexInRange(j, count);
            FloatVector.fromMemorySegment(F, x, (base + j) * 4, ORDER, m).mul(f).intoMemorySegment(x, (base + j) * 4, ORDER, m);
        }
    }

    @Override
    public void softmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                                MemorySegment dx, long dxOffset) {
        checkRows(rows, cols, new String[] {"y", "dy", "dx"}, new MemorySegment[] {y, dy, dx},
                new long[] {yOffset, dyOffset, dxOffset});
        if (cols == 0) return;
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long yr = yOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                FloatVector dot = FloatVector.broadcast(F, dotRun(dy, dyr, y, yr, cols));
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector g = FloatVector.fromMemorySegment(F, dy, (dyr + j) * 4, ORDER).sub(dot);
                    FloatVector.fromMemorySegment(F, y, (yr + j) * 4, ORDER)
                            .fma(g, FloatVector.fromMemorySegment(F, dx, (dxr + j) * 4, ORDER))
                            .intoMemorySegment(dx, (dxr + j) * 4, ORDER);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    FloatVector g = FloatVector.fromMemorySegment(F, dy, (dyr + j) * 4, ORDER, m).sub(dot);
                    FloatVector.fromMemorySegment(F, y, (yr + j) * 4, ORDER, m)
                            .fma(g, FloatVector.fromMemorySegment(F, dx, (dxr + j) * 4, ORDER, m))
                            .intoMemorySegment(dx, (dxr + j) * 4, ORDER, m);
                }
            }
        });
    }

    @Override
    public void logSoftmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        if (cols == 0) return;
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                float maxValue = maxRun(x, xr, cols);
                float[] lanes = new float[L];
                int whole = cols - cols % L;
                expSumRun(x, xr, maxValue, whole, lanes);
                if (whole < cols) expSumTail(x, xr + whole, maxValue, cols - whole, lanes);
                FloatVector max = FloatVector.broadcast(F, maxValue);
                FloatVector logSum = FloatVector.broadcast(F, (float) Math.log(addLanes(lanes)));
                // (x − max) first: exact or nearly so for the entries that matter, then − log Σ.
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector.fromMemorySegment(F, x, (xr + j) * 4, ORDER).sub(max).sub(logSum)
                            .intoMemorySegment(out, (or + j) * 4, ORDER);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    FloatVector.fromMemorySegment(F, x, (xr + j) * 4, ORDER, m).sub(max).sub(logSum)
                            .intoMemorySegment(out, (or + j) * 4, ORDER, m);
                }
            }
        });
    }

    /** The lanes of Σ exp(x[j] − max) over {@code count} (a multiple of L) elements, into {@code lanes}. */
    private static void expSumRun(MemorySegment x, long xBase, float max, int count, float[] lanes) {
        FloatVector shift = FloatVector.broadcast(F, max), acc = FloatVector.zero(F);
        for (int j = 0; j < count; j += L) {
            acc = acc.add(VectorMath.exp(FloatVector.fromMemorySegment(F, x, (xBase + j) * 4, ORDER).sub(shift)));
        }
        acc.intoArray(lanes, 0);
    }

    /** {@link #expSumRun}'s step on the last {@code count} &lt; L elements, added into {@code lanes}. */
    private static void expSumTail(MemorySegment x, long xBase, float max, int count, float[] lanes) {
        VectorMask<Float> m = F.indexInRange(0, count);
        FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(F, x, xBase * 4, ORDER, m).sub(max));
        FloatVector.fromArray(F, lanes, 0).add(e, m).intoArray(lanes, 0);
    }

    @Override
    public void logSoftmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                                   MemorySegment dx, long dxOffset) {
        checkRows(rows, cols, new String[] {"y", "dy", "dx"}, new MemorySegment[] {y, dy, dx},
                new long[] {yOffset, dyOffset, dxOffset});
        if (cols == 0) return;
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long yr = yOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                logSoftmaxBackwardRun(y, yr, dy, dyr, dx, dxr, sumRun(dy, dyr, cols), cols);
            }
        });
    }

    /** dx[j] += dy[j] − exp(y[j])·total over a run (own compilation unit, like {@link #expShiftedRun}). */
    private static void logSoftmaxBackwardRun(MemorySegment y, long yBase, MemorySegment dy, long dyBase,
                                              MemorySegment dx, long dxBase, float total, int count) {
        FloatVector t = FloatVector.broadcast(F, total);
        int j = 0;
        for (; j <= count - L; j += L) {
            long yAt = (yBase + j) * 4, dyAt = (dyBase + j) * 4, dxAt = (dxBase + j) * 4;
            FloatVector p = VectorMath.exp(FloatVector.fromMemorySegment(F, y, yAt, ORDER));
            FloatVector.fromMemorySegment(F, dx, dxAt, ORDER)
                    .add(FloatVector.fromMemorySegment(F, dy, dyAt, ORDER).sub(p.mul(t)))
                    .intoMemorySegment(dx, dxAt, ORDER);
        }
        if (j < count) logSoftmaxBackwardTail(y, yBase + j, dy, dyBase + j, dx, dxBase + j, total, count - j);
    }

    /** {@link #logSoftmaxBackwardRun}'s step on the last {@code count} &lt; L elements. */
    private static void logSoftmaxBackwardTail(MemorySegment y, long yBase, MemorySegment dy, long dyBase,
                                               MemorySegment dx, long dxBase, float total, int count) {
        VectorMask<Float> m = F.indexInRange(0, count);
        FloatVector p = VectorMath.exp(FloatVector.fromMemorySegment(F, y, yBase * 4, ORDER, m));
        FloatVector.fromMemorySegment(F, dx, dxBase * 4, ORDER, m)
                .add(FloatVector.fromMemorySegment(F, dy, dyBase * 4, ORDER, m).sub(p.mul(total)))
                .intoMemorySegment(dx, dxBase * 4, ORDER, m);
    }

    // ---- RMSNorm ------------------------------------------------------------------------------------

    @Override
    public void rmsNorm(int rows, int cols, float eps, MemorySegment x, long xOffset, MemorySegment weight,
                        long weightOffset, MemorySegment out, long outOffset, MemorySegment rstd, long rstdOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        checkF32("weight", weight, weightOffset, cols);
        if (rstd != null) checkF32("rstd", rstd, rstdOffset, rows);
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                float s = (float) (1.0 / Math.sqrt((double) dotRun(x, xr, x, xr, cols) / cols + eps));
                if (rstd != null) rstd.setAtIndex(F32, rstdOffset + r, s);
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector.fromMemorySegment(F, x, (xr + j) * 4, ORDER).mul(s)
                            .mul(FloatVector.fromMemorySegment(F, weight, (weightOffset + j) * 4, ORDER))
                            .intoMemorySegment(out, (or + j) * 4, ORDER);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    FloatVector.fromMemorySegment(F, x, (xr + j) * 4, ORDER, m).mul(s)
                            .mul(FloatVector.fromMemorySegment(F, weight, (weightOffset + j) * 4, ORDER, m))
                            .intoMemorySegment(out, (or + j) * 4, ORDER, m);
                }
            }
        });
    }

    @Override
    public void rmsNormBackward(int rows, int cols, MemorySegment x, long xOffset, MemorySegment weight,
                                long weightOffset, MemorySegment rstd, long rstdOffset, MemorySegment dy, long dyOffset,
                                MemorySegment dx, long dxOffset, MemorySegment dweight, long dweightOffset) {
        checkRows(rows, cols, new String[] {"x", "dy", "dx"}, new MemorySegment[] {x, dy, dx},
                new long[] {xOffset, dyOffset, dxOffset});
        checkF32("weight", weight, weightOffset, cols);
        checkF32("rstd", rstd, rstdOffset, rows);
        if (dweight != null) checkF32("dweight", dweight, dweightOffset, cols);
        if (cols == 0) return;
        // Row blocks: each computes dx for its rows and, when dweight is wanted, its own partial Σ_r dy⊙x·rstd
        // (partial[b] is [cols]); the partials are then added in block order, so dweight is the same for any
        // thread count. At most MAX_DWEIGHT_PARTIALS blocks keep the scratch small.
        int blocks = Math.min(MAX_DWEIGHT_PARTIALS, ElementwiseSupport.rowTasks(rows, cols));
        float[][] partial = dweight == null ? null : new float[blocks][cols];
        ThreadPool.shared().parallelFor(blocks, b -> {
            long r0 = ElementwiseSupport.rowStart(b, blocks, rows), r1 = ElementwiseSupport.rowStart(b + 1, blocks, rows);
            float[] lanes = new float[L];
            float[] p = partial == null ? null : partial[b];
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, dyr = dyOffset + r * cols;
                float s = rstd.getAtIndex(F32, rstdOffset + r);
                float c = (float) ((double) s * s * s * weightedDot(cols, x, xr, weight, weightOffset, dy, dyr, lanes) / cols);
                rmsNormBackwardRow(cols, x, xr, weight, weightOffset, s, c, dy, dyr, dx, dxOffset + r * cols, p);
            }
        });
        if (dweight != null) {
            for (int j = 0; j < cols; j += L) {
                VectorMask<Float> m = F.indexInRange(j, cols);
                FloatVector total = FloatVector.fromArray(F, partial[0], j, m);
                for (int b = 1; b < blocks; b++) total = total.add(FloatVector.fromArray(F, partial[b], j, m));
                FloatVector.fromMemorySegment(F, dweight, (dweightOffset + j) * 4, ORDER, m).add(total)
                        .intoMemorySegment(dweight, (dweightOffset + j) * 4, ORDER, m);
            }
        }
    }

    /**
     * Σ x ⊙ w ⊙ dy over a row, one accumulator (masked-off lanes load 0 and add nothing). This and
     * {@link #rmsNormBackwardRow} are separate methods to keep each small for C1, which inlines every Vector API
     * call and gave up on the two loops together ("out of virtual registers"); once that left the method at a
     * tier that boxes every vector for the rest of the run (measured: 58 MB per call instead of none).
     */
    private static float weightedDot(int cols, MemorySegment x, long xr, MemorySegment weight, long weightOffset,
                                     MemorySegment dy, long dyr, float[] lanes) {
        FloatVector acc = FloatVector.zero(F);
        int j = 0;
        for (; j <= cols - L; j += L) {
            acc = FloatVector.fromMemorySegment(F, x, (xr + j) * 4, ORDER)
                    .mul(FloatVector.fromMemorySegment(F, weight, (weightOffset + j) * 4, ORDER))
                    .fma(FloatVector.fromMemorySegment(F, dy, (dyr + j) * 4, ORDER), acc);
        }
        if (j < cols) {
            VectorMask<Float> m = F.indexInRange(j, cols);
            acc = loadSome(x, xr + j, m).mul(loadSome(weight, weightOffset + j, m)).fma(loadSome(dy, dyr + j, m), acc);
        }
        acc.intoArray(lanes, 0);
        return addLanes(lanes);
    }

    /** One row of {@link #rmsNormBackward}: dx += s·g − x·c with g = w ⊙ dy, and p += dy ⊙ x·s unless p is null. */
    private static void rmsNormBackwardRow(int cols, MemorySegment x, long xr, MemorySegment weight, long weightOffset,
                                           float s, float c, MemorySegment dy, long dyr, MemorySegment dx, long dxr,
                                           float[] p) {
        FloatVector vs = FloatVector.broadcast(F, s), vc = FloatVector.broadcast(F, c);
        int j = 0;
        for (; j <= cols - L; j += L) {
            FloatVector xv = FloatVector.fromMemorySegment(F, x, (xr + j) * 4, ORDER);
            FloatVector dyv = FloatVector.fromMemorySegment(F, dy, (dyr + j) * 4, ORDER);
            FloatVector g = FloatVector.fromMemorySegment(F, weight, (weightOffset + j) * 4, ORDER).mul(dyv);
            FloatVector.fromMemorySegment(F, dx, (dxr + j) * 4, ORDER).add(g.mul(vs).sub(xv.mul(vc)))
                    .intoMemorySegment(dx, (dxr + j) * 4, ORDER);
            if (p != null) dyv.fma(xv.mul(vs), FloatVector.fromArray(F, p, j)).intoArray(p, j);
        }
        if (j < cols) {
            VectorMask<Float> m = F.indexInRange(j, cols);
            FloatVector xv = loadSome(x, xr + j, m), dyv = loadSome(dy, dyr + j, m);
            FloatVector g = loadSome(weight, weightOffset + j, m).mul(dyv);
            storeSome(loadSome(dx, dxr + j, m).add(g.mul(vs).sub(xv.mul(vc))), dx, dxr + j, m);
            if (p != null) dyv.fma(xv.mul(vs), FloatVector.fromArray(F, p, j, m)).intoArray(p, j, m);
        }
    }

    // ---- rotary position embeddings -----------------------------------------------------------------

    /** Swaps the two lanes of every pair: [x0, x1, x2, x3, …] → [x1, x0, x3, x2, …]. */
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);
    /** Repeats each lane of the low half twice: [c0, c1, …] → [c0, c0, c1, c1, …]. */
    private static final VectorShuffle<Float> DUPLICATE_LOW = VectorShuffle.fromOp(F, i -> i / 2);
    /** Repeats each lane of the high half twice: [… c(L/2), c(L/2+1), …] → [c(L/2), c(L/2), …]. */
    private static final VectorShuffle<Float> DUPLICATE_HIGH = VectorShuffle.fromOp(F, i -> L / 2 + i / 2);
    /** −1 on even lanes, +1 on odd lanes: the signs of sin in (x0·c − x1·s, x1·c + x0·s). */
    private static final FloatVector PAIR_SIGNS = FloatVector.broadcast(F, 1f).blend(-1f,
            VectorMask.fromLong(F, 0x5555_5555_5555_5555L));

    @Override
    public void rope(RopeLayout layout, int tokens, int heads, int headDim, long tokenStride, MemorySegment x,
                     long xOffset, int[] positions, MemorySegment cos, MemorySegment sin, boolean inverse) {
        if (layout == null) throw new IllegalArgumentException("layout is null");
        ElementwiseSupport.checkRope(tokens, heads, headDim, tokenStride, x, xOffset, positions, cos, sin);
        int half = headDim / 2;
        float sign = inverse ? -1f : 1f;
        ElementwiseSupport.forRowBlocks(tokens, (long) heads * headDim, (t0, t1) -> {
            for (long t = t0; t < t1; t++) {
                long table = (long) positions[(int) t] * half;
                for (int h = 0; h < heads; h++) {
                    long head = xOffset + t * tokenStride + (long) h * headDim;
                    if (layout == RopeLayout.HALF) ropeHalf(x, head, half, cos, sin, table, sign);
                    else ropeInterleaved(x, head, half, cos, sin, table, sign);
                }
            }
        });
    }

    /** Pairs (i, i + half): both halves are contiguous runs, so cos/sin load straight. */
    private static void ropeHalf(MemorySegment x, long head, int half, MemorySegment cos, MemorySegment sin,
                                 long table, float sign) {
        int i = 0;
        for (; i <= half - L; i += L) {
            FloatVector c = FloatVector.fromMemorySegment(F, cos, (table + i) * 4, ORDER);
            FloatVector s = FloatVector.fromMemorySegment(F, sin, (table + i) * 4, ORDER).mul(sign);
            long at0 = (head + i) * 4, at1 = (head + half + i) * 4;
            FloatVector x0 = FloatVector.fromMemorySegment(F, x, at0, ORDER), x1 = FloatVector.fromMemorySegment(F, x, at1, ORDER);
            x0.mul(c).sub(x1.mul(s)).intoMemorySegment(x, at0, ORDER);   // x0·c − x1·s
            x0.mul(s).add(x1.mul(c)).intoMemorySegment(x, at1, ORDER);   // x0·s + x1·c
        }
        // The last half mod L pairs one by one: a tail per head is frequent (half = 24 at 512 bits), too frequent
        // for a masked step out of line (its vectors were boxed, 1.4 GB per 37 s of lora-kd steps) and too big for
        // C1 written out here. Plain products and sums round the same in scalar as in lanes, so the bits agree.
        for (; i < half; i++) {
            float c = cos.getAtIndex(F32, table + i), s = sin.getAtIndex(F32, table + i) * sign;
            float x0 = x.getAtIndex(F32, head + i), x1 = x.getAtIndex(F32, head + half + i);
            x.setAtIndex(F32, head + i, x0 * c - x1 * s);
            x.setAtIndex(F32, head + half + i, x0 * s + x1 * c);
        }
    }

    /**
     * Pairs (2i, 2i + 1). One load of cos (and sin) holds L frequencies, which serve the 2L interleaved values
     * of two x vectors: each lane of cos is duplicated into both lanes of its pair (low half of cos for the
     * first x vector, high half for the second), and the pair-swapped x supplies each lane's partner, so lane
     * 2k gets x0·c − x1·s and lane 2k+1 gets x1·c + x0·s.
     */
    private static void ropeInterleaved(MemorySegment x, long head, int half, MemorySegment cos, MemorySegment sin,
                                        long table, float sign) {
        int headDim = 2 * half;
        for (int i = 0; i < half; i += L) {
            VectorMask<Float> tableMask = F.indexInRange(i, half);
            FloatVector c = FloatVector.fromMemorySegment(F, cos, (table + i) * 4, ORDER, tableMask);
            FloatVector s = FloatVector.fromMemorySegment(F, sin, (table + i) * 4, ORDER, tableMask).mul(sign);
            for (int part = 0; part < 2; part++) {
                long at = 2L * i + (long) part * L;
                if (at >= headDim) break;
                VectorMask<Float> m = F.indexInRange(at, headDim);
                VectorShuffle<Float> spread = part == 0 ? DUPLICATE_LOW : DUPLICATE_HIGH;
                FloatVector v = FloatVector.fromMemorySegment(F, x, (head + at) * 4, ORDER, m);
                FloatVector rotated = v.mul(c.rearrange(spread))
                        .add(v.rearrange(SWAP_PAIRS).mul(s.rearrange(spread).mul(PAIR_SIGNS)));
                rotated.intoMemorySegment(x, (head + at) * 4, ORDER, m);
            }
        }
    }

    // ---- activations --------------------------------------------------------------------------------

    @Override
    public void silu(int n, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkVectors(n, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER);
                v.mul(VectorMath.sigmoid(v)).intoMemorySegment(out, (outOffset + i) * 4, ORDER);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector v = FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER, m);
                v.mul(VectorMath.sigmoid(v)).intoMemorySegment(out, (outOffset + i) * 4, ORDER, m);
            }
        });
    }

    @Override
    public void siluBackward(int n, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                             long dxOffset) {
        checkVectors(n, new String[] {"x", "dy", "dx"}, new MemorySegment[] {x, dy, dx},
                new long[] {xOffset, dyOffset, dxOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                long at = (dxOffset + i) * 4;
                FloatVector v = FloatVector.fromMemorySegment(F, x, (xOffset + i) * 4, ORDER), sigma = VectorMath.sigmoid(v);
                FloatVector slope = sigma.mul(v.mul(sigma.neg().add(1f)).add(1f));   // silu' = σ·(1 + x·(1 − σ))
                FloatVector.fromMemorySegment(F, dy, (dyOffset + i) * 4, ORDER)
                        .fma(slope, FloatVector.fromMemorySegment(F, dx, at, ORDER)).intoMemorySegment(dx, at, ORDER);
            }
            if (i < to) siluBackwardTail(i, to, x, xOffset, dy, dyOffset, dx, dxOffset);
        });
    }

    /** {@link #siluBackward}'s step on the partial vector [from, to). */
    private static void siluBackwardTail(long from, long to, MemorySegment x, long xOffset, MemorySegment dy,
                                         long dyOffset, MemorySegment dx, long dxOffset) {
        VectorMask<Float> m = F.indexInRange(from, to);
        long at = (dxOffset + from) * 4;
        FloatVector v = FloatVector.fromMemorySegment(F, x, (xOffset + from) * 4, ORDER, m), sigma = VectorMath.sigmoid(v);
        FloatVector slope = sigma.mul(v.mul(sigma.neg().add(1f)).add(1f));
        FloatVector.fromMemorySegment(F, dy, (dyOffset + from) * 4, ORDER, m)
                .fma(slope, FloatVector.fromMemorySegment(F, dx, at, ORDER, m)).intoMemorySegment(dx, at, ORDER, m);
    }

    @Override
    public void swiglu(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment out,
                       long outOffset) {
        checkVectors(n, new String[] {"gate", "up", "out"}, new MemorySegment[] {gate, up, out},
                new long[] {gateOffset, upOffset, outOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector g = FloatVector.fromMemorySegment(F, gate, (gateOffset + i) * 4, ORDER);
                g.mul(VectorMath.sigmoid(g)).mul(FloatVector.fromMemorySegment(F, up, (upOffset + i) * 4, ORDER))
                        .intoMemorySegment(out, (outOffset + i) * 4, ORDER);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector g = FloatVector.fromMemorySegment(F, gate, (gateOffset + i) * 4, ORDER, m);
                g.mul(VectorMath.sigmoid(g)).mul(FloatVector.fromMemorySegment(F, up, (upOffset + i) * 4, ORDER, m))
                        .intoMemorySegment(out, (outOffset + i) * 4, ORDER, m);
            }
        });
    }

    @Override
    public void swigluBackward(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset,
                               MemorySegment dy, long dyOffset, MemorySegment dgate, long dgateOffset,
                               MemorySegment dup, long dupOffset) {
        checkVectors(n, new String[] {"gate", "up", "dy", "dgate", "dup"},
                new MemorySegment[] {gate, up, dy, dgate, dup},
                new long[] {gateOffset, upOffset, dyOffset, dgateOffset, dupOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long full = from + F.loopBound(to - from);
            swigluBackwardRun(from, full, gate, gateOffset, up, upOffset, dy, dyOffset, dgate, dgateOffset, dup, dupOffset);
            if (full < to) {
                swigluBackwardTail(full, to, gate, gateOffset, up, upOffset, dy, dyOffset, dgate, dgateOffset, dup,
                        dupOffset);
            }
        });
    }

    /**
     * dgate += dy·up·silu'(gate); dup += dy·silu(gate) on whole vectors [from, to). The body is large (five
     * loads, two stores, an exp), so the loop and its tail are separate compilation units.
     */
    private static void swigluBackwardRun(long from, long to, MemorySegment gate, long gateOffset, MemorySegment up,
                                          long upOffset, MemorySegment dy, long dyOffset, MemorySegment dgate,
                                          long dgateOffset, MemorySegment dup, long dupOffset) {
        for (long i = from; i < to; i += L) {
            FloatVector g = FloatVector.fromMemorySegment(F, gate, (gateOffset + i) * 4, ORDER), sigma = VectorMath.sigmoid(g);
            FloatVector u = FloatVector.fromMemorySegment(F, up, (upOffset + i) * 4, ORDER);
            FloatVector d = FloatVector.fromMemorySegment(F, dy, (dyOffset + i) * 4, ORDER);
            FloatVector slope = sigma.mul(g.mul(sigma.neg().add(1f)).add(1f));   // silu' = σ·(1 + x·(1 − σ))
            long dgateAt = (dgateOffset + i) * 4, dupAt = (dupOffset + i) * 4;
            FloatVector.fromMemorySegment(F, dgate, dgateAt, ORDER).add(d.mul(u).mul(slope)).intoMemorySegment(dgate, dgateAt, ORDER);
            d.fma(g.mul(sigma), FloatVector.fromMemorySegment(F, dup, dupAt, ORDER)).intoMemorySegment(dup, dupAt, ORDER);
        }
    }

    /** The same step as {@link #swigluBackwardRun} on the partial vector [from, to). */
    private static void swigluBackwardTail(long from, long to, MemorySegment gate, long gateOffset, MemorySegment up,
                                           long upOffset, MemorySegment dy, long dyOffset, MemorySegment dgate,
                                           long dgateOffset, MemorySegment dup, long dupOffset) {
        VectorMask<Float> m = F.indexInRange(from, to);
        long i = from;
        FloatVector g = FloatVector.fromMemorySegment(F, gate, (gateOffset + i) * 4, ORDER, m), sigma = VectorMath.sigmoid(g);
        FloatVector u = FloatVector.fromMemorySegment(F, up, (upOffset + i) * 4, ORDER, m);
        FloatVector d = FloatVector.fromMemorySegment(F, dy, (dyOffset + i) * 4, ORDER, m);
        FloatVector slope = sigma.mul(g.mul(sigma.neg().add(1f)).add(1f));
        long dgateAt = (dgateOffset + i) * 4, dupAt = (dupOffset + i) * 4;
        FloatVector.fromMemorySegment(F, dgate, dgateAt, ORDER, m).add(d.mul(u).mul(slope)).intoMemorySegment(dgate, dgateAt, ORDER, m);
        d.fma(g.mul(sigma), FloatVector.fromMemorySegment(F, dup, dupAt, ORDER, m)).intoMemorySegment(dup, dupAt, ORDER, m);
    }

    // ---- embeddings ---------------------------------------------------------------------------------

    @Override
    public void embeddingGather(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment table,
                                long tableOffset, DType tableType, MemorySegment out, long outOffset) {
        ElementwiseSupport.checkEmbeddingGather(count, ids, idsOffset, vocab, dim, table, tableOffset, tableType,
                out, outOffset);
        if (dim == 0) return;
        ElementwiseSupport.forRowBlocks(count, dim, (t0, t1) -> {
            for (long t = t0; t < t1; t++) {
                long row = tableOffset + (long) ids[idsOffset + (int) t] * dim, or = outOffset + t * dim;
                switch (tableType) {
                    case F32 -> MemorySegment.copy(table, row * 4, out, or * 4, (long) dim * 4);
                    case BF16 -> widenRow(true, table, row, out, or, dim);
                    case F16 -> widenRow(false, table, row, out, or, dim);
                    case Q8_0 -> Q8Matvec.dequantizeRow(table, row, out, or, dim);
                    default -> throw new AssertionError(tableType);
                }
            }
        });
    }

    /**
     * Widens dim 16-bit floats at element {@code from} of {@code table} into F32 at {@code to}. One load of
     * {@link Simd#S} holds 2L halves; each half of it is widened to L ints and converted to L floats.
     */
    private static void widenRow(boolean bf16, MemorySegment table, long from, MemorySegment out, long to, int dim) {
        for (int j = 0; j < dim; j += 2 * L) {
            boolean whole = j + 2 * L <= dim;
            ShortVector halves = whole ? ShortVector.fromMemorySegment(S, table, (from + j) * 2, ORDER)
                    : ShortVector.fromMemorySegment(S, table, (from + j) * 2, ORDER, S.indexInRange(j, dim));
            for (int part = 0; part < 2; part++) {
                int at = j + part * L;
                if (at >= dim) break;
                IntVector bits = (IntVector) halves.convertShape(VectorOperators.S2I, I, part);
                (bf16 ? GemmPacking.bf16ToFloat(bits) : GemmPacking.f16ToFloat(bits))
                        .intoMemorySegment(out, (to + at) * 4, ORDER, F.indexInRange(at, dim));
            }
        }
    }

    @Override
    public void embeddingScatterAdd(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment dy,
                                    long dyOffset, MemorySegment dtable, long dtableOffset) {
        ElementwiseSupport.checkEmbeddingScatter(count, ids, idsOffset, vocab, dim, dy, dyOffset, dtable, dtableOffset);
        // Column blocks: each task owns columns [c0, c1) of every row and adds the tokens in order, so repeated
        // ids accumulate in token order whatever the thread count.
        int blocks = ElementwiseSupport.scatterBlocks(count, dim);
        ThreadPool.shared().parallelFor(blocks, b -> {
            long c0 = ElementwiseSupport.rangeStart(b, blocks, dim), c1 = ElementwiseSupport.rangeStart(b + 1, blocks, dim);
            for (int t = 0; t < count; t++) {
                long row = dtableOffset + (long) ids[idsOffset + t] * dim, dyr = dyOffset + (long) t * dim;
                long j = c0;
                for (; j + L <= c1; j += L) {   // whole vectors, then one masked tail (a mask on every step boxed)
                    FloatVector.fromMemorySegment(F, dtable, (row + j) * 4, ORDER)
                            .add(FloatVector.fromMemorySegment(F, dy, (dyr + j) * 4, ORDER))
                            .intoMemorySegment(dtable, (row + j) * 4, ORDER);
                }
                if (j < c1) {
                    VectorMask<Float> m = F.indexInRange(0, (int) (c1 - j));
                    FloatVector.fromMemorySegment(F, dtable, (row + j) * 4, ORDER, m)
                            .add(FloatVector.fromMemorySegment(F, dy, (dyr + j) * 4, ORDER, m))
                            .intoMemorySegment(dtable, (row + j) * 4, ORDER, m);
                }
            }
        });
    }

    // ---- distillation rows: see SimdKdRows ---------------------------------------------------------------

    @Override
    public RowStats rowStats(int n, double s, boolean withLse, MemorySegment x, long offset) {
        return SimdKdRows.rowStats(n, s, withLse, x, offset);
    }

    @Override
    public void kdTerms(KdTerm term, double beta, int n, double s, MemorySegment y, long yOffset, double lseP,
                        MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums) {
        SimdKdRows.kdTerms(term, beta, n, s, y, yOffset, lseP, z, zOffset, lseQ, writeH, sums);
    }

    @Override
    public void kdGradient(int n, MemorySegment z, long zOffset, double lse, double s, double lseQ, int target, double scale,
                           double ceWeight, double kdWeight, MemorySegment h, long hOffset, double hSum, double hRest, double lseRest) {
        SimdKdRows.kdGradient(n, z, zOffset, lse, s, lseQ, target, scale, ceWeight, kdWeight, h, hOffset, hSum, hRest, lseRest);
    }
}
