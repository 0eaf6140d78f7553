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
 * method that takes or returns one, so (1) vectors never cross this class's own "step" methods (a step
 * holding an exp grows too big to be inlined once it has been compiled on its own); (2) helpers that take a
 * mask use null for "all lanes", so cheap loops can carry the tail inside a single loop ({@link #lanes}); (3)
 * loops around {@link VectorMath#exp} instead run whole vectors with a literal null mask and repeat the step
 * once, masked, for the tail: with a run-time mask in the loop the JIT must keep both the plain and the masked
 * form of every load and store, which with an exp inside exceeds its inlining node budget (measured: a box per
 * vector otherwise).
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

    // ---- loads, stores and task loops ---------------------------------------------------------------

    /**
     * A load under mask {@code m}, null meaning all lanes (a plain load; the test costs a predictable branch).
     * Masked-off lanes read as 0 and touch no memory. These helpers are kept under 35 bytes of bytecode so
     * that both JIT tiers always inline them (a vector passed to a call that is not inlined gets boxed).
     */
    private static FloatVector load(MemorySegment s, long element, VectorMask<Float> m) {
        return m == null ? loadAll(s, element) : loadSome(s, element, m);
    }

    private static FloatVector loadAll(MemorySegment s, long element) {
        return FloatVector.fromMemorySegment(F, s, element * 4, ORDER);
    }

    private static FloatVector loadSome(MemorySegment s, long element, VectorMask<Float> m) {
        return FloatVector.fromMemorySegment(F, s, element * 4, ORDER, m);
    }

    /** A store under mask {@code m}, null meaning all lanes. */
    private static void store(FloatVector v, MemorySegment s, long element, VectorMask<Float> m) {
        if (m == null) storeAll(v, s, element);
        else storeSome(v, s, element, m);
    }

    private static void storeAll(FloatVector v, MemorySegment s, long element) {
        v.intoMemorySegment(s, element * 4, ORDER);
    }

    private static void storeSome(FloatVector v, MemorySegment s, long element, VectorMask<Float> m) {
        v.intoMemorySegment(s, element * 4, ORDER, m);
    }

    /** The lanes of the vector at {@code i} that lie before {@code end}: null (all) when a whole vector fits. */
    private static VectorMask<Float> lanes(long i, long end) {
        return i + L <= end ? null : F.indexInRange(i, end);
    }

    /** As {@link #load(MemorySegment, long, VectorMask)} from a float[]. */
    private static FloatVector loadArray(float[] a, int i, VectorMask<Float> m) {
        return m == null ? FloatVector.fromArray(F, a, i) : FloatVector.fromArray(F, a, i, m);
    }

    private static void storeArray(FloatVector v, float[] a, int i, VectorMask<Float> m) {
        if (m == null) v.intoArray(a, i);
        else v.intoArray(a, i, m);
    }


    /** Σ of the lanes in index order: a fixed order, unlike reduceLanes(ADD). */
    private static float addLanes(FloatVector v) {
        float[] lanes = v.toArray();
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
            for (long i = from; i < to; i += L) {
                VectorMask<Float> m = lanes(i, to);
                FloatVector va = aStride == 0 ? FloatVector.broadcast(F, aValue) : load(a, aOffset + i, m);
                FloatVector vb = bStride == 0 ? FloatVector.broadcast(F, bValue) : load(b, bOffset + i, m);
                store(multiply ? va.mul(vb) : va.add(vb), out, outOffset + i, m);
            }
        });
    }

    @Override
    public void scale(int n, float alpha, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkVectors(n, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i += L) {
                VectorMask<Float> m = lanes(i, to);
                store(load(x, xOffset + i, m).mul(alpha), out, outOffset + i, m);
            }
        });
    }

    @Override
    public void axpy(int n, float alpha, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        checkVectors(n, new String[] {"x", "y"}, new MemorySegment[] {x, y}, new long[] {xOffset, yOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i += L) {
                VectorMask<Float> m = lanes(i, to);
                store(load(x, xOffset + i, m).fma(FloatVector.broadcast(F, alpha), load(y, yOffset + i, m)),
                        y, yOffset + i, m);
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
            a0 = a0.add(load(x, base + i, null));
            a1 = a1.add(load(x, base + i + L, null));
            a2 = a2.add(load(x, base + i + 2 * L, null));
            a3 = a3.add(load(x, base + i + 3 * L, null));
        }
        for (; i < count; i += L) a0 = a0.add(load(x, base + i, lanes(i, count)));
        return addLanes(a0.add(a1).add(a2.add(a3)));
    }

    /** Σ x[i]·y[i] over a run, accumulated like {@link #sumRun}. */
    private static float dotRun(MemorySegment x, long xBase, MemorySegment y, long yBase, int count) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= count - 4 * L; i += 4 * L) {
            a0 = load(x, xBase + i, null).fma(load(y, yBase + i, null), a0);
            a1 = load(x, xBase + i + L, null).fma(load(y, yBase + i + L, null), a1);
            a2 = load(x, xBase + i + 2 * L, null).fma(load(y, yBase + i + 2 * L, null), a2);
            a3 = load(x, xBase + i + 3 * L, null).fma(load(y, yBase + i + 3 * L, null), a3);
        }
        for (; i < count; i += L) {
            VectorMask<Float> m = lanes(i, count);
            a0 = load(x, xBase + i, m).fma(load(y, yBase + i, m), a0);
        }
        return addLanes(a0.add(a1).add(a2.add(a3)));
    }

    /** max over a run (count ≥ 1); NaN if any element is NaN. Max is exact, so its lane order cannot matter. */
    private static float maxRun(MemorySegment x, long base, int count) {
        FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int i = 0; i < count; i += L) {
            VectorMask<Float> m = lanes(i, count);
            FloatVector v = load(x, base + i, m);
            acc = m == null ? acc.max(v) : acc.lanewise(VectorOperators.MAX, v, m);
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
            FloatVector e = VectorMath.exp(loadAll(x, xBase + j).sub(shift));
            storeAll(e, out, outBase + j);
            acc = acc.add(e);
        }
        float sum = addLanes(acc);
        return j < count ? sum + expShiftedTail(x, xBase + j, max, out, outBase + j, count - j) : sum;
    }

    /** {@link #expShiftedRun}'s step on the last {@code count} &lt; L elements; returns their sum. */
    private static float expShiftedTail(MemorySegment x, long xBase, float max, MemorySegment out, long outBase,
                                        int count) {
        VectorMask<Float> m = F.indexInRange(0, count);
        FloatVector e = VectorMath.exp(loadSome(x, xBase, m).sub(max));
        storeSome(e, out, outBase, m);
        return addLanes(FloatVector.zero(F).add(e, m));
    }

    /** x[j] *= factor over a run. */
    private static void scaleRun(MemorySegment x, long base, float factor, int count) {
        FloatVector f = FloatVector.broadcast(F, factor);
        int j = 0;
        for (; j <= count - L; j += L) storeAll(loadAll(x, base + j).mul(f), x, base + j);
        if (j < count) {
            VectorMask<Float> m = F.indexInRange(j, count);
            storeSome(loadSome(x, base + j, m).mul(f), x, base + j, m);
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
                for (int j = 0; j < cols; j += L) {
                    VectorMask<Float> m = lanes(j, cols);
                    FloatVector g = load(dy, dyr + j, m).sub(dot);
                    store(load(y, yr + j, m).fma(g, load(dx, dxr + j, m)), dx, dxr + j, m);
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
                FloatVector max = FloatVector.broadcast(F, maxRun(x, xr, cols));
                FloatVector acc = FloatVector.zero(F);
                int j = 0;
                for (; j <= cols - L; j += L) acc = acc.add(VectorMath.exp(load(x, xr + j, null).sub(max)));
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    acc = acc.add(VectorMath.exp(load(x, xr + j, m).sub(max)), m);
                }
                FloatVector logSum = FloatVector.broadcast(F, (float) Math.log(addLanes(acc)));
                // (x − max) first: exact or nearly so for the entries that matter, then − log Σ.
                for (j = 0; j < cols; j += L) {
                    VectorMask<Float> m = lanes(j, cols);
                    store(load(x, xr + j, m).sub(max).sub(logSum), out, or + j, m);
                }
            }
        });
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
            FloatVector p = VectorMath.exp(load(y, yBase + j, null));
            store(load(dx, dxBase + j, null).add(load(dy, dyBase + j, null).sub(p.mul(t))), dx, dxBase + j, null);
        }
        if (j < count) {
            VectorMask<Float> m = F.indexInRange(j, count);
            FloatVector p = VectorMath.exp(load(y, yBase + j, m));
            store(load(dx, dxBase + j, m).add(load(dy, dyBase + j, m).sub(p.mul(t))), dx, dxBase + j, m);
        }
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
                for (int j = 0; j < cols; j += L) {
                    VectorMask<Float> m = lanes(j, cols);
                    store(load(x, xr + j, m).mul(s).mul(load(weight, weightOffset + j, m)), out, or + j, m);
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
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                float s = rstd.getAtIndex(F32, rstdOffset + r);
                // Σ x ⊙ w ⊙ dy, one accumulator.
                FloatVector acc = FloatVector.zero(F);
                for (int j = 0; j < cols; j += L) {
                    VectorMask<Float> m = lanes(j, cols);
                    acc = load(x, xr + j, m).mul(load(weight, weightOffset + j, m)).fma(load(dy, dyr + j, m), acc);
                }
                float c = (float) ((double) s * s * s * addLanes(acc) / cols);
                FloatVector vs = FloatVector.broadcast(F, s), vc = FloatVector.broadcast(F, c);
                float[] p = partial == null ? null : partial[b];
                for (int j = 0; j < cols; j += L) {
                    VectorMask<Float> m = lanes(j, cols);
                    FloatVector xv = load(x, xr + j, m), dyv = load(dy, dyr + j, m);
                    FloatVector g = load(weight, weightOffset + j, m).mul(dyv);
                    store(load(dx, dxr + j, m).add(g.mul(vs).sub(xv.mul(vc))), dx, dxr + j, m);  // dx += rstd·g − x·c
                    if (p != null) {
                        // partial[b][j..] += dy ⊙ x·rstd (the masked-off lanes add 0 and are not stored)
                        storeArray(dyv.fma(xv.mul(vs), loadArray(p, j, m)), p, j, m);
                    }
                }
            }
        });
        if (dweight != null) {
            for (int j = 0; j < cols; j += L) {
                VectorMask<Float> m = lanes(j, cols);
                FloatVector total = loadArray(partial[0], j, m);
                for (int b = 1; b < blocks; b++) total = total.add(loadArray(partial[b], j, m));
                store(load(dweight, dweightOffset + j, m).add(total), dweight, dweightOffset + j, m);
            }
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
        for (int i = 0; i < half; i += L) {
            VectorMask<Float> m = lanes(i, half);
            FloatVector c = load(cos, table + i, m), s = load(sin, table + i, m).mul(sign);
            FloatVector x0 = load(x, head + i, m), x1 = load(x, head + half + i, m);
            store(x0.mul(c).sub(x1.mul(s)), x, head + i, m);            // x0·c − x1·s
            store(x0.mul(s).add(x1.mul(c)), x, head + half + i, m);     // x0·s + x1·c
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
            VectorMask<Float> tableMask = lanes(i, half);
            FloatVector c = load(cos, table + i, tableMask), s = load(sin, table + i, tableMask).mul(sign);
            for (int part = 0; part < 2; part++) {
                long at = 2L * i + (long) part * L;
                if (at >= headDim) break;
                VectorMask<Float> m = lanes(at, headDim);
                VectorShuffle<Float> spread = part == 0 ? DUPLICATE_LOW : DUPLICATE_HIGH;
                FloatVector v = load(x, head + at, m);
                FloatVector rotated = v.mul(c.rearrange(spread))
                        .add(v.rearrange(SWAP_PAIRS).mul(s.rearrange(spread).mul(PAIR_SIGNS)));
                store(rotated, x, head + at, m);
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
                FloatVector v = load(x, xOffset + i, null);
                store(v.mul(VectorMath.sigmoid(v)), out, outOffset + i, null);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector v = load(x, xOffset + i, m);
                store(v.mul(VectorMath.sigmoid(v)), out, outOffset + i, m);
            }
        });
    }

    /** silu'(x) = σ(x)·(1 + x·(1 − σ(x))). */
    private static FloatVector siluSlope(FloatVector v, FloatVector sigma) {
        return sigma.mul(v.mul(sigma.neg().add(1f)).add(1f));
    }

    @Override
    public void siluBackward(int n, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                             long dxOffset) {
        checkVectors(n, new String[] {"x", "dy", "dx"}, new MemorySegment[] {x, dy, dx},
                new long[] {xOffset, dyOffset, dxOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector v = load(x, xOffset + i, null);
                FloatVector slope = siluSlope(v, VectorMath.sigmoid(v));
                store(load(dy, dyOffset + i, null).fma(slope, load(dx, dxOffset + i, null)), dx, dxOffset + i, null);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector v = load(x, xOffset + i, m);
                FloatVector slope = siluSlope(v, VectorMath.sigmoid(v));
                store(load(dy, dyOffset + i, m).fma(slope, load(dx, dxOffset + i, m)), dx, dxOffset + i, m);
            }
        });
    }

    @Override
    public void swiglu(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment out,
                       long outOffset) {
        checkVectors(n, new String[] {"gate", "up", "out"}, new MemorySegment[] {gate, up, out},
                new long[] {gateOffset, upOffset, outOffset});
        ElementwiseSupport.forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector g = load(gate, gateOffset + i, null);
                store(g.mul(VectorMath.sigmoid(g)).mul(load(up, upOffset + i, null)), out, outOffset + i, null);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector g = load(gate, gateOffset + i, m);
                store(g.mul(VectorMath.sigmoid(g)).mul(load(up, upOffset + i, m)), out, outOffset + i, m);
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
            FloatVector g = load(gate, gateOffset + i, null), u = load(up, upOffset + i, null);
            FloatVector d = load(dy, dyOffset + i, null), sigma = VectorMath.sigmoid(g);
            store(load(dgate, dgateOffset + i, null).add(d.mul(u).mul(siluSlope(g, sigma))), dgate, dgateOffset + i, null);
            store(d.fma(g.mul(sigma), load(dup, dupOffset + i, null)), dup, dupOffset + i, null);
        }
    }

    /** The same step as {@link #swigluBackwardRun} on the partial vector [from, to). */
    private static void swigluBackwardTail(long from, long to, MemorySegment gate, long gateOffset, MemorySegment up,
                                           long upOffset, MemorySegment dy, long dyOffset, MemorySegment dgate,
                                           long dgateOffset, MemorySegment dup, long dupOffset) {
        VectorMask<Float> m = F.indexInRange(from, to);
        long i = from;
        FloatVector g = load(gate, gateOffset + i, m), u = load(up, upOffset + i, m);
        FloatVector d = load(dy, dyOffset + i, m), sigma = VectorMath.sigmoid(g);
        store(load(dgate, dgateOffset + i, m).add(d.mul(u).mul(siluSlope(g, sigma))), dgate, dgateOffset + i, m);
        store(d.fma(g.mul(sigma), load(dup, dupOffset + i, m)), dup, dupOffset + i, m);
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
                store(bf16 ? GemmPacking.bf16ToFloat(bits) : GemmPacking.f16ToFloat(bits), out, to + at, lanes(at, dim));
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
                for (long j = c0; j < c1; j += L) {
                    VectorMask<Float> m = lanes(j, c1);
                    store(load(dtable, row + j, m).add(load(dy, dyr + j, m)), dtable, row + j, m);
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
