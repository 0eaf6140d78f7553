package dev.retort.tensor.kernels.scalar;

import static dev.retort.tensor.kernels.ElementwiseSupport.checkBinary;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkCount;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkF32;
import static dev.retort.tensor.kernels.ElementwiseSupport.checkRows;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.KdTerm;
import dev.retort.tensor.kernels.ElementwiseSupport;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The plain-Java element-wise kernels: the fallback for JVMs without the Vector API, and the simplest statement
 * of what each kernel computes. Row reductions (softmax sums, RMSNorm's mean square, dot products) accumulate in
 * double, so this fallback is at least as accurate as the SIMD kernels. The work is cut into tasks exactly as
 * the SIMD kernels cut it ({@link ElementwiseSupport}), so results do not depend on the thread count.
 */
public final class ScalarElementwise implements Elementwise {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** At most this many row blocks hold a partial dweight in {@link #rmsNormBackward} (bounds the scratch). */
    private static final int MAX_DWEIGHT_PARTIALS = 64;

    private static float get(MemorySegment s, long i) { return s.getAtIndex(F32, i); }
    private static void set(MemorySegment s, long i, float v) { s.setAtIndex(F32, i, v); }


    // ---- binary element-wise ------------------------------------------------------------------------

    @Override
    public void add(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride,
                    MemorySegment out, long outOffset) {
        checkBinary(n, a, aOffset, aStride, b, bOffset, bStride, out, outOffset);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                set(out, outOffset + i, get(a, aOffset + i * aStride) + get(b, bOffset + i * bStride));
            }
        });
    }

    @Override
    public void mul(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride,
                    MemorySegment out, long outOffset) {
        checkBinary(n, a, aOffset, aStride, b, bOffset, bStride, out, outOffset);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                set(out, outOffset + i, get(a, aOffset + i * aStride) * get(b, bOffset + i * bStride));
            }
        });
    }

    @Override
    public void scale(int n, float alpha, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkCount("n", n);
        checkF32("x", x, xOffset, n);
        checkF32("out", out, outOffset, n);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) set(out, outOffset + i, alpha * get(x, xOffset + i));
        });
    }

    @Override
    public void axpy(int n, float alpha, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        checkCount("n", n);
        checkF32("x", x, xOffset, n);
        checkF32("y", y, yOffset, n);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                set(y, yOffset + i, Math.fma(alpha, get(x, xOffset + i), get(y, yOffset + i)));
            }
        });
    }

    // ---- reductions ---------------------------------------------------------------------------------
    // Fixed chunks of REDUCTION_CHUNK elements, each summed in double; chunk partials combined in chunk order.

    @Override
    public float sum(int n, MemorySegment x, long xOffset) {
        checkCount("n", n);
        checkF32("x", x, xOffset, n);
        return (float) reduceChunks(n, (from, to) -> {
            double s = 0;
            for (long i = from; i < to; i++) s += get(x, xOffset + i);
            return s;
        });
    }

    @Override
    public float max(int n, MemorySegment x, long xOffset) {
        if (n < 1) throw new IllegalArgumentException("max needs n >= 1, got " + n);
        checkF32("x", x, xOffset, n);
        int chunks = ElementwiseSupport.reductionChunks(n);
        float[] partial = new float[chunks];
        ThreadPool.shared().parallelFor(chunks, c -> {
            long from = (long) c * ElementwiseSupport.REDUCTION_CHUNK;
            long to = Math.min(n, from + ElementwiseSupport.REDUCTION_CHUNK);
            float m = Float.NEGATIVE_INFINITY;
            for (long i = from; i < to; i++) m = Math.max(m, get(x, xOffset + i)); // Math.max propagates NaN
            partial[c] = m;
        });
        float m = partial[0];
        for (int c = 1; c < chunks; c++) m = Math.max(m, partial[c]);
        return m;
    }

    @Override
    public float dot(int n, MemorySegment x, long xOffset, MemorySegment y, long yOffset) {
        checkCount("n", n);
        checkF32("x", x, xOffset, n);
        checkF32("y", y, yOffset, n);
        return (float) reduceChunks(n, (from, to) -> {
            double s = 0;
            for (long i = from; i < to; i++) s += (double) get(x, xOffset + i) * get(y, yOffset + i);
            return s;
        });
    }

    private interface ChunkSum {
        double sum(long from, long to);
    }

    private static double reduceChunks(long n, ChunkSum body) {
        int chunks = ElementwiseSupport.reductionChunks(n);
        if (chunks == 0) return 0;
        double[] partial = new double[chunks];
        ThreadPool.shared().parallelFor(chunks, c -> {
            long from = (long) c * ElementwiseSupport.REDUCTION_CHUNK;
            partial[c] = body.sum(from, Math.min(n, from + ElementwiseSupport.REDUCTION_CHUNK));
        });
        double s = 0;
        for (double p : partial) s += p;
        return s;
    }

    // ---- softmax ------------------------------------------------------------------------------------

    private static float rowMax(MemorySegment x, long base, int cols) {
        float m = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < cols; j++) m = Math.max(m, get(x, base + j));
        return m;
    }

    @Override
    public void softmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                float max = rowMax(x, xr, cols);
                double sum = 0;
                for (int j = 0; j < cols; j++) {
                    float e = (float) Math.exp(get(x, xr + j) - max);
                    set(out, or + j, e);
                    sum += e;
                }
                float inv = (float) (1.0 / sum);
                for (int j = 0; j < cols; j++) set(out, or + j, get(out, or + j) * inv);
            }
        });
    }

    @Override
    public void softmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                                MemorySegment dx, long dxOffset) {
        checkRows(rows, cols, new String[] {"y", "dy", "dx"}, new MemorySegment[] {y, dy, dx},
                new long[] {yOffset, dyOffset, dxOffset});
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long yr = yOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                double dotSum = 0;
                for (int j = 0; j < cols; j++) dotSum += (double) get(dy, dyr + j) * get(y, yr + j);
                float dot = (float) dotSum;
                for (int j = 0; j < cols; j++) {
                    set(dx, dxr + j, get(dx, dxr + j) + get(y, yr + j) * (get(dy, dyr + j) - dot));
                }
            }
        });
    }

    @Override
    public void logSoftmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                float max = rowMax(x, xr, cols);
                double sum = 0;
                for (int j = 0; j < cols; j++) sum += Math.exp(get(x, xr + j) - max);
                float logSum = (float) Math.log(sum);
                for (int j = 0; j < cols; j++) set(out, or + j, (get(x, xr + j) - max) - logSum);
            }
        });
    }

    @Override
    public void logSoftmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                                   MemorySegment dx, long dxOffset) {
        checkRows(rows, cols, new String[] {"y", "dy", "dx"}, new MemorySegment[] {y, dy, dx},
                new long[] {yOffset, dyOffset, dxOffset});
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long yr = yOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                double dySum = 0;
                for (int j = 0; j < cols; j++) dySum += get(dy, dyr + j);
                float total = (float) dySum;
                for (int j = 0; j < cols; j++) {
                    float p = (float) Math.exp(get(y, yr + j));
                    set(dx, dxr + j, get(dx, dxr + j) + (get(dy, dyr + j) - p * total));
                }
            }
        });
    }

    // ---- RMSNorm ------------------------------------------------------------------------------------

    /** rstd = 1/√(Σx²/cols + eps), computed in double from a double sum of squares. */
    static float rstdOf(double sumOfSquares, int cols, float eps) {
        return (float) (1.0 / Math.sqrt(sumOfSquares / cols + eps));
    }

    @Override
    public void rmsNorm(int rows, int cols, float eps, MemorySegment x, long xOffset, MemorySegment weight,
                        long weightOffset, MemorySegment out, long outOffset, MemorySegment rstd, long rstdOffset) {
        checkRows(rows, cols, new String[] {"x", "out"}, new MemorySegment[] {x, out}, new long[] {xOffset, outOffset});
        checkF32("weight", weight, weightOffset, cols);
        if (rstd != null) checkF32("rstd", rstd, rstdOffset, rows);
        ElementwiseSupport.forRowBlocks(rows, cols, (r0, r1) -> {
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, or = outOffset + r * cols;
                double ss = 0;
                for (int j = 0; j < cols; j++) {
                    float v = get(x, xr + j);
                    ss += (double) v * v;
                }
                float s = rstdOf(ss, cols, eps);
                if (rstd != null) set(rstd, rstdOffset + r, s);
                for (int j = 0; j < cols; j++) set(out, or + j, get(x, xr + j) * s * get(weight, weightOffset + j));
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
        // Row blocks: each computes dx for its rows and, when dweight is wanted, its own partial Σ_r dy⊙x·rstd;
        // the partials are then added in block order, so dweight is the same for any thread count.
        int blocks = Math.min(MAX_DWEIGHT_PARTIALS, ElementwiseSupport.rowTasks(rows, cols));
        float[][] partial = dweight == null ? null : new float[blocks][cols];
        ThreadPool.shared().parallelFor(blocks, b -> {
            long r0 = ElementwiseSupport.rowStart(b, blocks, rows), r1 = ElementwiseSupport.rowStart(b + 1, blocks, rows);
            for (long r = r0; r < r1; r++) {
                long xr = xOffset + r * cols, dyr = dyOffset + r * cols, dxr = dxOffset + r * cols;
                float s = get(rstd, rstdOffset + r);
                double xg = 0;  // Σ x ⊙ w ⊙ dy
                for (int j = 0; j < cols; j++) {
                    xg += (double) get(x, xr + j) * get(weight, weightOffset + j) * get(dy, dyr + j);
                }
                float c = (float) ((double) s * s * s * xg / cols);
                for (int j = 0; j < cols; j++) {
                    float g = get(weight, weightOffset + j) * get(dy, dyr + j);
                    set(dx, dxr + j, get(dx, dxr + j) + (s * g - get(x, xr + j) * c));
                }
                if (partial != null) {
                    float[] p = partial[b];
                    for (int j = 0; j < cols; j++) p[j] += get(dy, dyr + j) * (get(x, xr + j) * s);
                }
            }
        });
        if (dweight != null) {
            for (int j = 0; j < cols; j++) {
                float total = 0;
                for (int b = 0; b < blocks; b++) total += partial[b][j];
                set(dweight, dweightOffset + j, get(dweight, dweightOffset + j) + total);
            }
        }
    }

    // ---- rotary position embeddings -----------------------------------------------------------------

    @Override
    public void rope(RopeLayout layout, int tokens, int heads, int headDim, long tokenStride, MemorySegment x,
                     long xOffset, int[] positions, MemorySegment cos, MemorySegment sin, boolean inverse) {
        if (layout == null) throw new IllegalArgumentException("layout is null");
        ElementwiseSupport.checkRope(tokens, heads, headDim, tokenStride, x, xOffset, positions, cos, sin);
        int half = headDim / 2;
        // The first and second element of pair i: HALF pairs (i, i + d/2), INTERLEAVED pairs (2i, 2i + 1).
        int firstStep = layout == RopeLayout.HALF ? 1 : 2;
        int secondShift = layout == RopeLayout.HALF ? half : 1;
        float sign = inverse ? -1f : 1f;
        ElementwiseSupport.forRowBlocks(tokens, (long) heads * headDim, (t0, t1) -> {
            for (long t = t0; t < t1; t++) {
                long table = (long) positions[(int) t] * half;
                for (int h = 0; h < heads; h++) {
                    long head = xOffset + t * tokenStride + (long) h * headDim;
                    for (int i = 0; i < half; i++) {
                        float c = get(cos, table + i), s = sign * get(sin, table + i);
                        long i0 = head + (long) i * firstStep, i1 = i0 + secondShift;
                        float x0 = get(x, i0), x1 = get(x, i1);
                        set(x, i0, x0 * c - x1 * s);
                        set(x, i1, x0 * s + x1 * c);
                    }
                }
            }
        });
    }

    // ---- activations --------------------------------------------------------------------------------

    private static double sigmoid(double v) {
        return 1.0 / (1.0 + Math.exp(-v));
    }

    @Override
    public void silu(int n, MemorySegment x, long xOffset, MemorySegment out, long outOffset) {
        checkCount("n", n);
        checkF32("x", x, xOffset, n);
        checkF32("out", out, outOffset, n);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                double v = get(x, xOffset + i);
                set(out, outOffset + i, (float) (v * sigmoid(v)));
            }
        });
    }

    @Override
    public void siluBackward(int n, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx,
                             long dxOffset) {
        checkCount("n", n);
        checkF32("x", x, xOffset, n);
        checkF32("dy", dy, dyOffset, n);
        checkF32("dx", dx, dxOffset, n);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                double v = get(x, xOffset + i), s = sigmoid(v);
                float slope = (float) (s * (1 + v * (1 - s)));
                set(dx, dxOffset + i, get(dx, dxOffset + i) + get(dy, dyOffset + i) * slope);
            }
        });
    }

    @Override
    public void swiglu(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment out,
                       long outOffset) {
        checkCount("n", n);
        checkF32("gate", gate, gateOffset, n);
        checkF32("up", up, upOffset, n);
        checkF32("out", out, outOffset, n);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                double g = get(gate, gateOffset + i);
                set(out, outOffset + i, (float) (g * sigmoid(g)) * get(up, upOffset + i));
            }
        });
    }

    @Override
    public void swigluBackward(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset,
                               MemorySegment dy, long dyOffset, MemorySegment dgate, long dgateOffset,
                               MemorySegment dup, long dupOffset) {
        checkCount("n", n);
        checkF32("gate", gate, gateOffset, n);
        checkF32("up", up, upOffset, n);
        checkF32("dy", dy, dyOffset, n);
        checkF32("dgate", dgate, dgateOffset, n);
        checkF32("dup", dup, dupOffset, n);
        ElementwiseSupport.forRanges(n, (from, to) -> {
            for (long i = from; i < to; i++) {
                double g = get(gate, gateOffset + i), s = sigmoid(g);
                float silu = (float) (g * s), slope = (float) (s * (1 + g * (1 - s)));
                float d = get(dy, dyOffset + i), u = get(up, upOffset + i);
                set(dgate, dgateOffset + i, get(dgate, dgateOffset + i) + d * u * slope);
                set(dup, dupOffset + i, get(dup, dupOffset + i) + d * silu);
            }
        });
    }

    // ---- embeddings ---------------------------------------------------------------------------------

    @Override
    public void embeddingGather(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment table,
                                long tableOffset, DType tableType, MemorySegment out, long outOffset) {
        ElementwiseSupport.checkEmbeddingGather(count, ids, idsOffset, vocab, dim, table, tableOffset, tableType, out, outOffset);
        ElementwiseSupport.forRowBlocks(count, dim, (t0, t1) -> {
            for (long t = t0; t < t1; t++) {
                long row = tableOffset + (long) ids[idsOffset + (int) t] * dim, or = outOffset + t * dim;
                for (int j = 0; j < dim; j++) {
                    float v = switch (tableType) {
                        case F32 -> get(table, row + j);
                        case BF16 -> Half.bf16ToFloat(table.getAtIndex(I16, row + j));
                        case F16 -> Half.f16ToFloat(table.getAtIndex(I16, row + j));
                        case Q8_0 -> Q8Block.get(table, row + j);
                        default -> throw new AssertionError(tableType);
                    };
                    set(out, or + j, v);
                }
            }
        });
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
                for (long j = c0; j < c1; j++) set(dtable, row + j, get(dtable, row + j) + get(dy, dyr + j));
            }
        });
    }


    // ---- distillation rows: see ScalarKdRows ---------------------------------------------------------------

    @Override
    public RowStats rowStats(int n, double s, boolean withLse, MemorySegment x, long offset) {
        return ScalarKdRows.rowStats(n, s, withLse, x, offset);
    }

    @Override
    public void kdTerms(KdTerm term, double beta, int n, double s, MemorySegment y, long yOffset, double lseP,
                        MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums) {
        ScalarKdRows.kdTerms(term, beta, n, s, y, yOffset, lseP, z, zOffset, lseQ, writeH, sums);
    }

    @Override
    public void kdGradient(int n, MemorySegment z, long zOffset, double lse, double s, double lseQ, int target, double scale,
                           double ceWeight, double kdWeight, MemorySegment h, long hOffset, double hSum, double hRest, double lseRest) {
        ScalarKdRows.kdGradient(n, z, zOffset, lse, s, lseQ, target, scale, ceWeight, kdWeight, h, hOffset, hSum, hRest, lseRest);
    }
}
