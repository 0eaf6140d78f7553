package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;

/**
 * Shared by the attention tests: a problem (shapes plus random data in the kernel's layouts), the naive
 * double-precision reference (materialised scores, causal mask, softmax, ·V) and its analytic backward.
 */
final class AttentionTestSupport {
    private AttentionTestSupport() {}

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Every tensor sits this many floats into its segment, to exercise the offsets. */
    static final int LEAD = 3;

    /**
     * Shapes of one attention call: q/out [batch × tq × heads × headDim]; k/v [batch × capacity × kvHeads ×
     * headDim] with {@code kvBatchStride} floats between batches (≥ capacity·kvHeads·headDim; any extra is
     * padding). Query i sits at position qStart + i.
     */
    record Shape(int batch, int tq, int qStart, int capacity, int heads, int kvHeads, int headDim, long kvBatchStride) {
        static Shape of(int batch, int tq, int qStart, int capacity, int heads, int kvHeads, int headDim, int pad) {
            return new Shape(batch, tq, qStart, capacity, heads, kvHeads, headDim,
                    (long) capacity * kvHeads * headDim + pad);
        }

        float scale() { return (float) (1.0 / Math.sqrt(headDim)); }
        int ratio() { return heads / kvHeads; }
        int queryElements() { return batch * tq * heads * headDim; }
        int kvElements() { return (int) ((batch - 1) * kvBatchStride + (long) capacity * kvHeads * headDim); }
        int qIndex(int b, int i, int h, int d) { return ((b * tq + i) * heads + h) * headDim + d; }
        int kvIndex(int b, int pos, int g, int d) { return (int) (b * kvBatchStride + (pos * kvHeads + g) * headDim + d); }
        int lseIndex(int b, int h, int i) { return (b * heads + h) * tq + i; }

        @Override
        public String toString() {
            return "B=" + batch + " Tq=" + tq + " qStart=" + qStart + " cap=" + capacity + " H=" + heads + " G=" + kvHeads
                    + " D=" + headDim + " kvStride=" + kvBatchStride;
        }
    }

    /** Random inputs for a shape. K/V positions ≥ qStart + tq (never visible) and the padding hold NaN. */
    static final class Problem {
        final Shape s;
        final float[] q, k, v;

        Problem(Shape s, long seed) {
            this.s = s;
            Random random = new Random(seed);
            q = gaussian(random, s.queryElements());
            k = new float[s.kvElements()];
            v = new float[s.kvElements()];
            java.util.Arrays.fill(k, Float.NaN);
            java.util.Arrays.fill(v, Float.NaN);
            for (int b = 0; b < s.batch; b++) {
                for (int pos = 0; pos < s.qStart + s.tq; pos++) {
                    for (int g = 0; g < s.kvHeads; g++) {
                        for (int d = 0; d < s.headDim; d++) {
                            k[s.kvIndex(b, pos, g, d)] = (float) random.nextGaussian();
                            v[s.kvIndex(b, pos, g, d)] = (float) random.nextGaussian();
                        }
                    }
                }
            }
        }
    }

    static float[] gaussian(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) random.nextGaussian();
        return x;
    }

    /** A segment holding {@code data} at element {@link #LEAD}, surrounded by NaN. */
    static MemorySegment segment(Arena arena, float[] data) {
        MemorySegment seg = arena.allocate((long) (data.length + LEAD + 5) * Float.BYTES, 64);
        for (long i = 0; i < seg.byteSize() / Float.BYTES; i++) seg.setAtIndex(F32, i, Float.NaN);
        MemorySegment.copy(data, 0, seg, F32, (long) LEAD * Float.BYTES, data.length);
        return seg;
    }

    static float[] read(MemorySegment seg, int n) {
        float[] x = new float[n];
        MemorySegment.copy(seg, F32, (long) LEAD * Float.BYTES, x, 0, n);
        return x;
    }

    /** Output of the kernel's forward pass. */
    record ForwardResult(float[] out, float[] lse) {}

    /** Runs {@code attention.forward} on the problem (with lse unless {@code withLse} is false). */
    static ForwardResult runForward(Attention attention, Problem p, boolean withLse) {
        Shape s = p.s;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = segment(arena, p.q), k = segment(arena, p.k), v = segment(arena, p.v);
            MemorySegment out = segment(arena, new float[s.queryElements()]);
            MemorySegment lse = withLse ? segment(arena, new float[s.batch * s.heads * s.tq]) : null;
            attention.forward(s.batch, s.tq, s.qStart, s.heads, s.kvHeads, s.headDim, s.scale(),
                    q, LEAD, k, LEAD, v, LEAD, s.kvBatchStride, out, LEAD, lse, LEAD);
            return new ForwardResult(read(out, s.queryElements()), withLse ? read(lse, s.batch * s.heads * s.tq) : null);
        }
    }

    /** Gradients after {@code attention.backward}, starting from the given dq/dk/dv (accumulation). */
    record Gradients(float[] dq, float[] dk, float[] dv) {}

    static Gradients runBackward(Attention attention, Problem p, ForwardResult forward, float[] dout,
                                 Gradients initial) {
        Shape s = p.s;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = segment(arena, p.q), k = segment(arena, p.k), v = segment(arena, p.v);
            MemorySegment out = segment(arena, forward.out()), lse = segment(arena, forward.lse());
            MemorySegment dO = segment(arena, dout);
            MemorySegment dq = segment(arena, initial.dq()), dk = segment(arena, initial.dk()), dv = segment(arena, initial.dv());
            attention.backward(s.batch, s.tq, s.heads, s.kvHeads, s.headDim, s.scale(), q, LEAD, k, LEAD, v, LEAD,
                    s.kvBatchStride, out, LEAD, lse, LEAD, dO, LEAD, dq, LEAD, dk, LEAD, dv, LEAD);
            return new Gradients(read(dq, s.queryElements()), read(dk, s.kvElements()), read(dv, s.kvElements()));
        }
    }

    // ---- the double-precision reference -----------------------------------------------------------------

    /** Reference forward: out [B × Tq × H × D] and lse [B × H × Tq], in double. */
    record Reference(double[] out, double[] lse) {}

    static Reference referenceForward(Shape s, double[] q, double[] k, double[] v) {
        double[] out = new double[s.queryElements()];
        double[] lse = new double[s.batch * s.heads * s.tq];
        for (int b = 0; b < s.batch; b++) {
            for (int h = 0; h < s.heads; h++) {
                int g = h / s.ratio();
                for (int i = 0; i < s.tq; i++) {
                    double[] p = probabilities(s, q, k, b, h, g, i);
                    int keys = p.length;
                    for (int d = 0; d < s.headDim; d++) {
                        double o = 0;
                        for (int j = 0; j < keys; j++) o += p[j] * v[s.kvIndex(b, j, g, d)];
                        out[s.qIndex(b, i, h, d)] = o;
                    }
                    lse[s.lseIndex(b, h, i)] = logSumExp(s, q, k, b, h, g, i);
                }
            }
        }
        return new Reference(out, lse);
    }

    /** The materialised causal scores of query i: scale·q_i·k_j for j = 0..qStart+i. */
    private static double[] scores(Shape s, double[] q, double[] k, int b, int h, int g, int i) {
        int keys = s.qStart + i + 1;
        double[] scores = new double[keys];
        for (int j = 0; j < keys; j++) {
            double dot = 0;
            for (int d = 0; d < s.headDim; d++) dot += q[s.qIndex(b, i, h, d)] * k[s.kvIndex(b, j, g, d)];
            scores[j] = dot * s.scale();
        }
        return scores;
    }

    private static double logSumExp(Shape s, double[] q, double[] k, int b, int h, int g, int i) {
        double[] scores = scores(s, q, k, b, h, g, i);
        double max = Double.NEGATIVE_INFINITY;
        for (double x : scores) max = Math.max(max, x);
        double sum = 0;
        for (double x : scores) sum += Math.exp(x - max);
        return max + Math.log(sum);
    }

    /** Softmax row of query i over its visible keys. */
    private static double[] probabilities(Shape s, double[] q, double[] k, int b, int h, int g, int i) {
        double[] p = scores(s, q, k, b, h, g, i);
        double lse = logSumExp(s, q, k, b, h, g, i);
        for (int j = 0; j < p.length; j++) p[j] = Math.exp(p[j] - lse);
        return p;
    }

    /**
     * Analytic backward of the reference (qStart = 0): dv_j = Σ_i P_ij dO_i, dP_ij = dO_i·v_j,
     * dS_ij = P_ij (dP_ij − Σ_l P_il dP_il), dq_i = scale Σ_j dS_ij k_j, dk_j = scale Σ_i dS_ij q_i. dk/dv are
     * summed over the query heads of a group. Returns {dq, dk, dv} in the kernel layouts.
     */
    static double[][] referenceBackward(Shape s, double[] q, double[] k, double[] v, double[] dout) {
        double[] dq = new double[s.queryElements()];
        double[] dk = new double[s.kvElements()];
        double[] dv = new double[s.kvElements()];
        for (int b = 0; b < s.batch; b++) {
            for (int h = 0; h < s.heads; h++) {
                int g = h / s.ratio();
                for (int i = 0; i < s.tq; i++) {
                    double[] p = probabilities(s, q, k, b, h, g, i);
                    double[] dp = new double[p.length];
                    double rowSum = 0;
                    for (int j = 0; j < p.length; j++) {
                        for (int d = 0; d < s.headDim; d++) dp[j] += dout[s.qIndex(b, i, h, d)] * v[s.kvIndex(b, j, g, d)];
                        rowSum += p[j] * dp[j];
                    }
                    for (int j = 0; j < p.length; j++) {
                        double ds = p[j] * (dp[j] - rowSum);
                        for (int d = 0; d < s.headDim; d++) {
                            dv[s.kvIndex(b, j, g, d)] += p[j] * dout[s.qIndex(b, i, h, d)];
                            dq[s.qIndex(b, i, h, d)] += s.scale() * ds * k[s.kvIndex(b, j, g, d)];
                            dk[s.kvIndex(b, j, g, d)] += s.scale() * ds * q[s.qIndex(b, i, h, d)];
                        }
                    }
                }
            }
        }
        return new double[][] {dq, dk, dv};
    }

    static double[] toDouble(float[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i];
        return y;
    }

    /**
     * Asserts |actual − expected| ≤ tolerance · max(1, |expected|) element by element (NaN in expected means
     * "not compared": the padding of k/v). The message names the tensor, the index, both numbers and the case.
     */
    static void assertClose(String what, double[] expected, float[] actual, double tolerance, Object context) {
        if (expected.length != actual.length) fail(what + ": length " + actual.length + ", expected " + expected.length);
        for (int i = 0; i < expected.length; i++) {
            if (Double.isNaN(expected[i])) continue;
            double error = Math.abs(actual[i] - expected[i]);
            if (!(error <= tolerance * Math.max(1, Math.abs(expected[i])))) {
                fail(what + "[" + i + "] = " + actual[i] + ", expected " + expected[i] + " (error " + error
                        + " > tolerance " + tolerance + ") for " + context);
            }
        }
    }

    static void assertBitwiseEqual(String what, float[] expected, float[] actual, Object context) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + "[" + i + "] differs: " + actual[i] + " vs " + expected[i] + " for " + context);
            }
        }
    }
}
