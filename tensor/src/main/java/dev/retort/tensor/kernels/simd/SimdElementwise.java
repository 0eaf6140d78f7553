package dev.retort.tensor.kernels.simd;

import static dev.retort.tensor.kernels.ElementwiseSupport.checkBinary;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkF32;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkRows;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkVectors;

import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.ElementwiseSupport;
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
 * <p>Every loop runs whole vectors and finishes with one masked vector for the tail, so each element goes
 * through the same arithmetic whatever its position (no separate scalar tail with different rounding), and a
 * dimension smaller than one vector is simply one masked step. The work is cut into tasks exactly as
 * {@link ElementwiseSupport} says, so results do not depend on the thread count; reductions add their vector
 * accumulators lane-wise, then the lanes in index order (never {@code reduceLanes(ADD)}, whose order the API
 * leaves open and which could differ between the interpreter and compiled code).
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

    private static FloatVector load(MemorySegment s, long element) {
        return FloatVector.fromMemorySegment(F, s, element * 4, ORDER);
    }

    /**
     * A load under mask {@code m}, where null means all lanes: the kernels' steps take a mask that is null in
     * the main loop (the JIT inlines the step and folds the test away, leaving a plain load) and a real mask
     * for the one tail step. Masked-off lanes read as 0 and touch no memory. (Masked memory access is slow on
     * some CPUs, NEON for one, so it is kept out of the main loops.)
     */
    private static FloatVector load(MemorySegment s, long element, VectorMask<Float> m) {
        return m == null ? FloatVector.fromMemorySegment(F, s, element * 4, ORDER)
                : FloatVector.fromMemorySegment(F, s, element * 4, ORDER, m);
    }

    private static void store(FloatVector v, MemorySegment s, long element) {
        v.intoMemorySegment(s, element * 4, ORDER);
    }

    /** A store under mask {@code m}, null meaning all lanes (see {@link #load(MemorySegment, long, VectorMask)}). */
    private static void store(FloatVector v, MemorySegment s, long element, VectorMask<Float> m) {
        if (m == null) v.intoMemorySegment(s, element * 4, ORDER);
        else v.intoMemorySegment(s, element * 4, ORDER, m);
    }

    /** Σ of the lanes in index order: a fixed order, unlike reduceLanes(ADD). */
    private static float addLanes(FloatVector v) {
        float[] lanes = v.toArray();
        float s = lanes[0];
        for (int i = 1; i < lanes.length; i++) s += lanes[i];
        return s;
    }

    /** Runs body over [0, n) cut into the shared element-wise ranges. */
    private static void forRanges(long n, ThreadPool.RangeBody body) {
        int tasks = ElementwiseSupport.elementTasks(n);
        ThreadPool.shared().parallelFor(tasks, t -> {
            long from = ElementwiseSupport.rangeStart(t, tasks, n);
            long to = ElementwiseSupport.rangeStart(t + 1, tasks, n);
            if (from < to) body.accept(from, to);
        });
    }

    /** Runs body over rows [0, rows) cut into the shared row blocks. */
    private static void forRowBlocks(long rows, long cols, ThreadPool.RangeBody body) {
        int tasks = ElementwiseSupport.rowTasks(rows, cols);
        ThreadPool.shared().parallelFor(tasks, t -> {
            long from = ElementwiseSupport.rowStart(t, tasks, rows);
            long to = ElementwiseSupport.rowStart(t + 1, tasks, rows);
            if (from < to) body.accept(from, to);
        });
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
     * out = a (+ or ·) b. A stride-0 operand is read once and broadcast; the branches on stride and operation
     * are loop-invariant, so the JIT unswitches them out of the vector loop.
     */
    private static void binary(boolean multiply, int n, MemorySegment a, long aOffset, int aStride,
                               MemorySegment b, long bOffset, int bStride, MemorySegment out, long outOffset) {
        if (n == 0) return;
        FloatVector aValue = aStride == 0 ? FloatVector.broadcast(F, a.getAtIndex(F32, aOffset)) : null;
        FloatVector bValue = bStride == 0 ? FloatVector.broadcast(F, b.getAtIndex(F32, bOffset)) : null;
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                FloatVector va = aValue != null ? aValue : load(a, aOffset + i);
                FloatVector vb = bValue != null ? bValue : load(b, bOffset + i);
                store(multiply ? va.mul(vb) : va.add(vb), out, outOffset + i);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                FloatVector va = aValue != null ? aValue : load(a, aOffset + i, m);
                FloatVector vb = bValue != null ? bValue : load(b, bOffset + i, m);
                store(multiply ? va.mul(vb) : va.add(vb), out, outOffset + i, m);
            }
        });
    }

    @Override
    public void scale(int n, float alpha, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkVectors(n, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                store(load(x, xOffset + i).mul(alpha), out, outOffset + i);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                store(load(x, xOffset + i, m).mul(alpha), out, outOffset + i, m);
            }
        });
    }

    @Override
    public void axpy(int n, float alpha, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        checkVectors(n, new String[] {"x", "y"}, new MemorySegment[] {x, y}, new long[] {xOffset, yOffset});
        FloatVector va = FloatVector.broadcast(F, alpha);
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                store(load(x, xOffset + i).fma(va, load(y, yOffset + i)), y, yOffset + i);
            }
            if (i < to) {
                VectorMask<Float> m = F.indexInRange(i, to);
                store(load(x, xOffset + i, m).fma(va, load(y, yOffset + i, m)), y, yOffset + i, m);
            }
        });
    }

    // ---- reductions ---------------------------------------------------------------------------------

    /**
     * Σ x[base .. base+count) with four vector accumulators (four independent add chains hide the add
     * latency); the accumulators are combined as (a0+a1)+(a2+a3), then the lanes in order.
     */
    private static float sumRun(MemorySegment x, long base, int count) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= count - 4 * L; i += 4 * L) {
            a0 = a0.add(load(x, base + i));
            a1 = a1.add(load(x, base + i + L));
            a2 = a2.add(load(x, base + i + 2 * L));
            a3 = a3.add(load(x, base + i + 3 * L));
        }
        for (; i <= count - L; i += L) a0 = a0.add(load(x, base + i));
        if (i < count) a0 = a0.add(load(x, base + i, F.indexInRange(i, count)));
        return addLanes(a0.add(a1).add(a2.add(a3)));
    }

    /** Σ x[i]·y[i] over a run, accumulated like {@link #sumRun}. */
    private static float dotRun(MemorySegment x, long xBase, MemorySegment y, long yBase, int count) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= count - 4 * L; i += 4 * L) {
            a0 = load(x, xBase + i).fma(load(y, yBase + i), a0);
            a1 = load(x, xBase + i + L).fma(load(y, yBase + i + L), a1);
            a2 = load(x, xBase + i + 2 * L).fma(load(y, yBase + i + 2 * L), a2);
            a3 = load(x, xBase + i + 3 * L).fma(load(y, yBase + i + 3 * L), a3);
        }
        for (; i <= count - L; i += L) a0 = load(x, xBase + i).fma(load(y, yBase + i), a0);
        if (i < count) {
            VectorMask<Float> m = F.indexInRange(i, count);
            a0 = load(x, xBase + i, m).fma(load(y, yBase + i, m), a0);
        }
        return addLanes(a0.add(a1).add(a2.add(a3)));
    }

    /** max over a run (count ≥ 1); NaN if any element is NaN. Max is exact, so its lane order cannot matter. */
    private static float maxRun(MemorySegment x, long base, int count) {
        FloatVector acc = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i <= count - L; i += L) acc = acc.max(load(x, base + i));
        if (i < count) {
            VectorMask<Float> m = F.indexInRange(i, count);
            acc = acc.lanewise(VectorOperators.MAX, load(x, base + i, m), m);
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
        forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                FloatVector max = FloatVector.broadcast(F, maxRun(x, xr, cols));
                // Pass 1: e = exp(x − max) into out, summing e; pass 2: scale out by 1/Σe.
                FloatVector acc = FloatVector.zero(F);
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector e = VectorMath.exp(load(x, xr + j).sub(max));
                    store(e, out, or + j);
                    acc = acc.add(e);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    FloatVector e = VectorMath.exp(load(x, xr + j, m).sub(max));
                    store(e, out, or + j, m);
                    acc = acc.add(e, m);
                }
                float inv = 1f / addLanes(acc);
                j = 0;
                for (; j <= cols - L; j += L) store(load(out, or + j).mul(inv), out, or + j);
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    store(load(out, or + j, m).mul(inv), out, or + j, m);
                }
            }
        });
    }

    @Override
    public void softmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                                MemorySegment dx, long dxOffset) {
        checkRows(rows, cols, new String[] {"y", "dy", "dx"}, new MemorySegment[] {y, dy, dx},
                new long[] {yOffset, dyOffset, dxOffset});
        if (cols == 0) return;
        forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long yr = yOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                FloatVector dot = FloatVector.broadcast(F, dotRun(dy, dyr, y, yr, cols));
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector g = load(dy, dyr + j).sub(dot);
                    store(load(y, yr + j).fma(g, load(dx, dxr + j)), dx, dxr + j);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
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
        forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                FloatVector max = FloatVector.broadcast(F, maxRun(x, xr, cols));
                FloatVector acc = FloatVector.zero(F);
                int j = 0;
                for (; j <= cols - L; j += L) acc = acc.add(VectorMath.exp(load(x, xr + j).sub(max)));
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    acc = acc.add(VectorMath.exp(load(x, xr + j, m).sub(max)), m);
                }
                FloatVector logSum = FloatVector.broadcast(F, (float) Math.log(addLanes(acc)));
                // (x − max) first: exact or nearly so for the entries that matter, then − log Σ.
                j = 0;
                for (; j <= cols - L; j += L) store(load(x, xr + j).sub(max).sub(logSum), out, or + j);
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
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
        forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long yr = yOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                FloatVector total = FloatVector.broadcast(F, sumRun(dy, dyr, cols));
                int j = 0;
                for (; j <= cols - L; j += L) {
                    FloatVector p = VectorMath.exp(load(y, yr + j));
                    store(load(dx, dxr + j).add(load(dy, dyr + j).sub(p.mul(total))), dx, dxr + j);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    FloatVector p = VectorMath.exp(load(y, yr + j, m));
                    store(load(dx, dxr + j, m).add(load(dy, dyr + j, m).sub(p.mul(total))), dx, dxr + j, m);
                }
            }
        });
    }

    // ---- RMSNorm ------------------------------------------------------------------------------------

    @Override
    public void rmsNorm(int rows, int cols, float eps, MemorySegment x, long xOffset, MemorySegment weight,
                        long weightOffset, MemorySegment out, long outOffset, MemorySegment rstd, long rstdOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        checkF32("weight", weight, weightOffset, cols);
        if (rstd != null) checkF32("rstd", rstd, rstdOffset, rows);
        forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                float s = (float) (1.0 / Math.sqrt((double) dotRun(x, xr, x, xr, cols) / cols + eps));
                if (rstd != null) rstd.setAtIndex(F32, rstdOffset + r, s);
                int j = 0;
                for (; j <= cols - L; j += L) {
                    store(load(x, xr + j).mul(s).mul(load(weight, weightOffset + j)), out, or + j);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
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
                // Σ x ⊙ w ⊙ dy, in the same lane order as dotRun.
                FloatVector acc = FloatVector.zero(F);
                int j = 0;
                for (; j <= cols - L; j += L) {
                    acc = load(x, xr + j).mul(load(weight, weightOffset + j)).fma(load(dy, dyr + j), acc);
                }
                if (j < cols) {
                    VectorMask<Float> m = F.indexInRange(j, cols);
                    acc = load(x, xr + j, m).mul(load(weight, weightOffset + j, m)).fma(load(dy, dyr + j, m), acc);
                }
                float c = (float) ((double) s * s * s * addLanes(acc) / cols);
                FloatVector vs = FloatVector.broadcast(F, s), vc = FloatVector.broadcast(F, c);
                float[] p = partial == null ? null : partial[b];
                j = 0;
                for (; j <= cols - L; j += L) {
                    rmsNormBackwardStep(x, xr + j, weight, weightOffset + j, dy, dyr + j, dx, dxr + j, vs, vc, p, j, null);
                }
                if (j < cols) {
                    rmsNormBackwardStep(x, xr + j, weight, weightOffset + j, dy, dyr + j, dx, dxr + j, vs, vc, p, j,
                            F.indexInRange(j, cols));
                }
            }
        });
        if (dweight != null) {
            // Not a hot loop (blocks × cols adds once per call): masked steps throughout keep it short.
            for (int j = 0; j < cols; j += L) {
                VectorMask<Float> m = F.indexInRange(j, cols);
                FloatVector total = FloatVector.fromArray(F, partial[0], j, m);
                for (int b = 1; b < blocks; b++) total = total.add(FloatVector.fromArray(F, partial[b], j, m));
                store(load(dweight, dweightOffset + j, m).add(total), dweight, dweightOffset + j, m);
            }
        }
    }

    /** dx += rstd·(w⊙dy) − x·c at one step; partial[j..] += dy⊙x·rstd when partial is not null. */
    private static void rmsNormBackwardStep(MemorySegment x, long xAt, MemorySegment weight, long wAt, MemorySegment dy,
                                            long dyAt, MemorySegment dx, long dxAt, FloatVector rstd, FloatVector c,
                                            float[] partial, int j, VectorMask<Float> m) {
        FloatVector xv = load(x, xAt, m), dyv = load(dy, dyAt, m);
        FloatVector g = load(weight, wAt, m).mul(dyv);
        store(load(dx, dxAt, m).add(g.mul(rstd).sub(xv.mul(c))), dx, dxAt, m);
        if (partial != null) {
            FloatVector old = m == null ? FloatVector.fromArray(F, partial, j) : FloatVector.fromArray(F, partial, j, m);
            FloatVector updated = dyv.fma(xv.mul(rstd), old);
            if (m == null) updated.intoArray(partial, j);
            else updated.intoArray(partial, j, m);
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
        forRowBlocks(tokens, (long) heads * headDim, (t0, t1) -> {
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
        for (; i <= half - L; i += L) ropeHalfStep(x, head + i, head + half + i, cos, sin, table + i, sign, null);
        if (i < half) ropeHalfStep(x, head + i, head + half + i, cos, sin, table + i, sign, F.indexInRange(i, half));
    }

    /** (x0, x1) ← (x0·c − x1·s, x0·s + x1·c) for L pairs. */
    private static void ropeHalfStep(MemorySegment x, long first, long second, MemorySegment cos, MemorySegment sin,
                                     long tableAt, float sign, VectorMask<Float> m) {
        FloatVector c = load(cos, tableAt, m), s = load(sin, tableAt, m).mul(sign);
        FloatVector x0 = load(x, first, m), x1 = load(x, second, m);
        store(x0.mul(c).sub(x1.mul(s)), x, first, m);
        store(x0.mul(s).add(x1.mul(c)), x, second, m);
    }

    /**
     * Pairs (2i, 2i + 1). One load of cos (and sin) holds L frequencies, which serve the 2L interleaved values
     * of two x vectors: each lane of cos is duplicated into both lanes of its pair (low half of cos for the
     * first x vector, high half for the second), and the pair-swapped x supplies each lane's partner.
     */
    private static void ropeInterleaved(MemorySegment x, long head, int half, MemorySegment cos, MemorySegment sin,
                                        long table, float sign) {
        int headDim = 2 * half;
        int i = 0;
        for (; i <= half - L; i += L) {
            FloatVector c = load(cos, table + i, null), s = load(sin, table + i, null).mul(sign);
            ropePairsStep(x, head + 2L * i, c.rearrange(DUPLICATE_LOW), s.rearrange(DUPLICATE_LOW), null);
            ropePairsStep(x, head + 2L * i + L, c.rearrange(DUPLICATE_HIGH), s.rearrange(DUPLICATE_HIGH), null);
        }
        if (i < half) {
            VectorMask<Float> tableMask = F.indexInRange(i, half);
            FloatVector c = load(cos, table + i, tableMask), s = load(sin, table + i, tableMask).mul(sign);
            ropePairsStep(x, head + 2L * i, c.rearrange(DUPLICATE_LOW), s.rearrange(DUPLICATE_LOW),
                    F.indexInRange(2 * i, headDim));
            if (2 * i + L < headDim) {
                ropePairsStep(x, head + 2L * i + L, c.rearrange(DUPLICATE_HIGH), s.rearrange(DUPLICATE_HIGH),
                        F.indexInRange(2 * i + L, headDim));
            }
        }
    }

    /** Rotates the L/2 pairs at element {@code at}: lane 2k gets x0·c − x1·s, lane 2k+1 gets x1·c + x0·s. */
    private static void ropePairsStep(MemorySegment x, long at, FloatVector cosPairs, FloatVector sinPairs,
                                      VectorMask<Float> m) {
        FloatVector v = load(x, at, m);
        store(v.mul(cosPairs).add(v.rearrange(SWAP_PAIRS).mul(sinPairs.mul(PAIR_SIGNS))), x, at, m);
    }

    // ---- activations --------------------------------------------------------------------------------
    // Each kernel is a loop of full vectors and one masked tail over a static step (inlined, mask folded).

    @Override
    public void silu(int n, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkVectors(n, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                siluStep(x, xOffset + i, out, outOffset + i, null);
            }
            if (i < to) siluStep(x, xOffset + i, out, outOffset + i, F.indexInRange(i, to));
        });
    }

    private static void siluStep(MemorySegment x, long xAt, MemorySegment out, long outAt, VectorMask<Float> m) {
        FloatVector v = load(x, xAt, m);
        store(v.mul(VectorMath.sigmoid(v)), out, outAt, m);
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
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                siluBackwardStep(x, xOffset + i, dy, dyOffset + i, dx, dxOffset + i, null);
            }
            if (i < to) siluBackwardStep(x, xOffset + i, dy, dyOffset + i, dx, dxOffset + i, F.indexInRange(i, to));
        });
    }

    private static void siluBackwardStep(MemorySegment x, long xAt, MemorySegment dy, long dyAt, MemorySegment dx,
                                         long dxAt, VectorMask<Float> m) {
        FloatVector v = load(x, xAt, m);
        FloatVector slope = siluSlope(v, VectorMath.sigmoid(v));
        store(load(dy, dyAt, m).fma(slope, load(dx, dxAt, m)), dx, dxAt, m);
    }

    @Override
    public void swiglu(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment out,
                       long outOffset) {
        checkVectors(n, new String[] {"gate", "up", "out"}, new MemorySegment[] {gate, up, out},
                new long[] {gateOffset, upOffset, outOffset});
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                swigluStep(gate, gateOffset + i, up, upOffset + i, out, outOffset + i, null);
            }
            if (i < to) swigluStep(gate, gateOffset + i, up, upOffset + i, out, outOffset + i, F.indexInRange(i, to));
        });
    }

    private static void swigluStep(MemorySegment gate, long gateAt, MemorySegment up, long upAt, MemorySegment out,
                                   long outAt, VectorMask<Float> m) {
        FloatVector g = load(gate, gateAt, m);
        store(g.mul(VectorMath.sigmoid(g)).mul(load(up, upAt, m)), out, outAt, m);
    }

    @Override
    public void swigluBackward(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset,
                               MemorySegment dy, long dyOffset, MemorySegment dgate, long dgateOffset,
                               MemorySegment dup, long dupOffset) {
        checkVectors(n, new String[] {"gate", "up", "dy", "dgate", "dup"},
                new MemorySegment[] {gate, up, dy, dgate, dup},
                new long[] {gateOffset, upOffset, dyOffset, dgateOffset, dupOffset});
        forRanges(n, (from, to) -> {
            long i = from;
            for (long bound = from + F.loopBound(to - from); i < bound; i += L) {
                swigluBackwardStep(gate, gateOffset + i, up, upOffset + i, dy, dyOffset + i,
                        dgate, dgateOffset + i, dup, dupOffset + i, null);
            }
            if (i < to) {
                swigluBackwardStep(gate, gateOffset + i, up, upOffset + i, dy, dyOffset + i,
                        dgate, dgateOffset + i, dup, dupOffset + i, F.indexInRange(i, to));
            }
        });
    }

    /** dgate += dy·up·silu'(gate); dup += dy·silu(gate). */
    private static void swigluBackwardStep(MemorySegment gate, long gateAt, MemorySegment up, long upAt,
                                           MemorySegment dy, long dyAt, MemorySegment dgate, long dgateAt,
                                           MemorySegment dup, long dupAt, VectorMask<Float> m) {
        FloatVector g = load(gate, gateAt, m), u = load(up, upAt, m), d = load(dy, dyAt, m);
        FloatVector sigma = VectorMath.sigmoid(g);
        store(load(dgate, dgateAt, m).add(d.mul(u).mul(siluSlope(g, sigma))), dgate, dgateAt, m);
        store(d.fma(g.mul(sigma), load(dup, dupAt, m)), dup, dupAt, m);
    }

    // ---- embeddings ---------------------------------------------------------------------------------

    @Override
    public void embeddingGather(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment table,
                                long tableOffset, DType tableType, MemorySegment out, long outOffset) {
        ElementwiseSupport.checkEmbeddingGather(count, ids, idsOffset, vocab, dim, table, tableOffset, tableType,
                out, outOffset);
        if (dim == 0) return;
        forRowBlocks(count, dim, (t0, t1) -> {
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
        int j = 0;
        for (; j <= dim - 2 * L; j += 2 * L) {
            ShortVector halves = ShortVector.fromMemorySegment(S, table, (from + j) * 2, ORDER);
            store(widen(bf16, halves, 0), out, to + j, null);
            store(widen(bf16, halves, 1), out, to + j + L, null);
        }
        if (j < dim) {
            ShortVector halves = ShortVector.fromMemorySegment(S, table, (from + j) * 2, ORDER, S.indexInRange(j, dim));
            store(widen(bf16, halves, 0), out, to + j, F.indexInRange(j, dim));
            if (j + L < dim) store(widen(bf16, halves, 1), out, to + j + L, F.indexInRange(j + L, dim));
        }
    }

    /** Lanes [part·L, part·L + L) of {@code halves} as floats. */
    private static FloatVector widen(boolean bf16, ShortVector halves, int part) {
        IntVector bits = (IntVector) halves.convertShape(VectorOperators.S2I, I, part);
        return bf16 ? bf16ToFloat(bits) : f16ToFloat(bits);
    }

    /** BF16 is the top half of an F32: shift into place (the sign-extended high bits are shifted out). */
    private static FloatVector bf16ToFloat(IntVector bits) {
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /** 2^112 = 2^(127 − 15): rebases an F16 exponent (bias 15) placed in an F32 (bias 127). */
    private static final float F16_REBIAS = 0x1p112f;

    /**
     * IEEE half → float, exactly. Moving exponent and mantissa (15 bits) up by 13 gives an F32 whose value is
     * the half's magnitude times 2^−112 (for subnormal halves too, which become F32 subnormals), so one exact
     * multiply by 2^112 fixes the scale. Infinity and NaN (exponent all ones) instead get the F32 all-ones
     * exponent with the mantissa kept, and a NaN is made quiet (as {@link Float#float16ToFloat} and the
     * hardware conversions do); the sign is copied last.
     */
    private static FloatVector f16ToFloat(IntVector bits) {
        IntVector magnitude = bits.and(0x7fff);
        IntVector shifted = magnitude.lanewise(VectorOperators.LSHL, 13);
        FloatVector finite = shifted.reinterpretAsFloats().mul(F16_REBIAS);
        VectorMask<Integer> special = magnitude.compare(VectorOperators.GE, 0x7c00);
        VectorMask<Integer> nan = magnitude.compare(VectorOperators.GT, 0x7c00);
        IntVector special32 = shifted.or(0x7f80_0000).blend(shifted.or(0x7fc0_0000), nan);
        IntVector result = finite.reinterpretAsInts().blend(special32, special);
        IntVector sign = bits.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        return result.or(sign).reinterpretAsFloats();
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
                for (long bound = c0 + F.loopBound(c1 - c0); j < bound; j += L) {
                    store(load(dtable, row + j).add(load(dy, dyr + j)), dtable, row + j);
                }
                if (j < c1) {
                    VectorMask<Float> m = F.indexInRange(j, c1);
                    store(load(dtable, row + j, m).add(load(dy, dyr + j, m)), dtable, row + j, m);
                }
            }
        });
    }
}
