package dev.retort.autograd;

import static dev.retort.autograd.GradCheck.check;

import dev.retort.autograd.GradCheck.Input;
import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.Attention;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.ops.Embedding;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.Reductions;
import dev.retort.autograd.ops.RmsNorm;
import dev.retort.autograd.ops.Rope;
import dev.retort.autograd.ops.ScoreNormalization;
import dev.retort.autograd.ops.Shapes;
import dev.retort.autograd.ops.Softmax;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise.RopeLayout;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every op's forward against a double-precision reference written here, and its backward against central
 * finite differences of that reference (see {@link GradCheck}). Shapes are small and odd on purpose.
 */
class OpsGradientTest {
    private static final double FWD = 2e-5, GRAD = 2e-3;
    private final SplittableRandom random = new SplittableRandom(1234);

    // ---- references in double ---------------------------------------------------------------------------

    /** C[M×N] = op(A)·op(B) in the given layout. */
    static double[] matmulRef(Layout layout, double[] a, double[] b, int m, int n, int k) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double av = layout == Layout.ATB ? a[p * m + i] : a[i * k + p];
                    double bv = layout == Layout.ABT ? b[j * k + p] : b[p * n + j];
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        return c;
    }

    static double[] softmaxRows(double[] x, int cols, boolean log) {
        double[] y = new double[x.length];
        for (int r = 0; r < x.length / cols; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < cols; j++) max = Math.max(max, x[r * cols + j]);
            double sum = 0;
            for (int j = 0; j < cols; j++) sum += Math.exp(x[r * cols + j] - max);
            for (int j = 0; j < cols; j++) {
                double z = x[r * cols + j] - max;
                y[r * cols + j] = log ? z - Math.log(sum) : Math.exp(z) / sum;
            }
        }
        return y;
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    // ---- ops ----------------------------------------------------------------------------------------------

    @Test
    void linearMatchesReferenceAndFiniteDifferences() {
        int rows = 7, in = 5, out = 3;
        check("linear", (g, v) -> MatMul.linear(Shapes.reshape(v[0], 1, rows, in), v[1]),
                x -> matmulRef(Layout.ABT, x[0], x[1], rows, out, in), FWD, GRAD,
                Input.random(random, rows, in), Input.random(random, out, in));
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void matmulEveryLayoutMatchesReference(Layout layout) {
        int m = 4, n = 6, k = 3;
        int[] aShape = layout == Layout.ATB ? new int[] {k, m} : new int[] {m, k};
        int[] bShape = layout == Layout.ABT ? new int[] {n, k} : new int[] {k, n};
        check("matmul " + layout, (g, v) -> MatMul.matmul(v[0], v[1], layout),
                x -> matmulRef(layout, x[0], x[1], m, n, k), FWD, GRAD,
                Input.random(random, aShape), Input.random(random, bShape));
    }

    @ParameterizedTest
    @EnumSource(Layout.class)
    void batchedMatmulWithSharedAndPerBatchB(Layout layout) {
        int batch = 3, m = 2, n = 5, k = 4;
        int[] aShape = layout == Layout.ATB ? new int[] {batch, k, m} : new int[] {batch, m, k};
        int[] bShape = layout == Layout.ABT ? new int[] {n, k} : new int[] {k, n};
        for (boolean shared : new boolean[] {true, false}) {
            int[] bFull = shared ? bShape : new int[] {batch, bShape[0], bShape[1]};
            check("batched matmul " + layout + (shared ? " shared B" : ""), (g, v) -> MatMul.matmul(v[0], v[1], layout),
                    x -> {
                        double[] c = new double[batch * m * n];
                        for (int i = 0; i < batch; i++) {
                            double[] a = java.util.Arrays.copyOfRange(x[0], i * m * k, (i + 1) * m * k);
                            double[] b = shared ? x[1] : java.util.Arrays.copyOfRange(x[1], i * n * k, (i + 1) * n * k);
                            System.arraycopy(matmulRef(layout, a, b, m, n, k), 0, c, i * m * n, m * n);
                        }
                        return c;
                    }, FWD, GRAD, Input.random(random, aShape), Input.random(random, bFull));
        }
    }

    @Test
    void linearWithFrozenBf16WeightPassesGradientToInputOnly() {
        int rows = 5, in = 9, out = 4;
        double[] w = new double[out * in];
        for (int i = 0; i < w.length; i++) w[i] = dev.retort.tensor.Half.bf16ToFloat(dev.retort.tensor.Half.floatToBf16((float) (random.nextDouble() - 0.5)));
        try (Arena arena = Arena.ofShared()) {
            Tensor wBf16 = GradCheck.tensor(arena, DType.BF16, w, out, in);
            Parameter frozen = new Parameter("w", wBf16, false);
            check("linear bf16", (g, v) -> MatMul.linear(v[0], frozen),
                    x -> matmulRef(Layout.ABT, x[0], w, rows, out, in), FWD, GRAD, Input.random(random, rows, in));
        }
    }

    @Test
    void rmsNormMatchesReference() {
        int rows = 3, dim = 17;
        float eps = 1e-5f;
        check("rmsNorm", (g, v) -> RmsNorm.apply(v[0], v[1], eps), x -> {
            double[] y = new double[rows * dim];
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int j = 0; j < dim; j++) ss += x[0][r * dim + j] * x[0][r * dim + j];
                double rstd = 1 / Math.sqrt(ss / dim + eps);
                for (int j = 0; j < dim; j++) y[r * dim + j] = x[0][r * dim + j] * rstd * x[1][j];
            }
            return y;
        }, FWD, GRAD, Input.random(random, rows, dim), Input.random(random, dim));
    }

    @ParameterizedTest
    @EnumSource(RopeLayout.class)
    void ropeMatchesReference(RopeLayout layout) {
        int tokens = 5, heads = 2, headDim = 6, half = headDim / 2, maxPos = 16;
        int[] positions = {0, 3, 4, 9, 15};
        double theta = 10000;
        double[] cos = new double[maxPos * half], sin = new double[maxPos * half];
        for (int p = 0; p < maxPos; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * Math.pow(theta, -2.0 * i / headDim);
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        try (Arena arena = Arena.ofShared()) {
            Tensor cosT = GradCheck.tensor(arena, DType.F32, cos, maxPos, half);
            Tensor sinT = GradCheck.tensor(arena, DType.F32, sin, maxPos, half);
            check("rope " + layout, (g, v) -> Rope.apply(v[0], heads, headDim, positions, cosT, sinT, layout), x -> {
                double[] y = x[0].clone();
                for (int t = 0; t < tokens; t++) {
                    for (int h = 0; h < heads; h++) {
                        int base = (t * heads + h) * headDim;
                        for (int i = 0; i < half; i++) {
                            int a = layout == RopeLayout.HALF ? base + i : base + 2 * i;
                            int b = layout == RopeLayout.HALF ? base + i + half : base + 2 * i + 1;
                            double c = cos[positions[t] * half + i], s = sin[positions[t] * half + i];
                            y[a] = x[0][a] * c - x[0][b] * s;
                            y[b] = x[0][a] * s + x[0][b] * c;
                        }
                    }
                }
                return y;
            }, FWD, GRAD, Input.random(random, tokens, heads * headDim));
        }
    }

    @Test
    void siluAndSwigluMatchReference() {
        check("silu", (g, v) -> Activations.silu(v[0]), x -> {
            double[] y = new double[x[0].length];
            for (int i = 0; i < y.length; i++) y[i] = silu(x[0][i]);
            return y;
        }, FWD, GRAD, scaled(Input.random(random, 3, 11), 4));
        check("swiglu", (g, v) -> Activations.swiglu(v[0], v[1]), x -> {
            double[] y = new double[x[0].length];
            for (int i = 0; i < y.length; i++) y[i] = silu(x[0][i]) * x[1][i];
            return y;
        }, FWD, GRAD, scaled(Input.random(random, 4, 9), 3), Input.random(random, 4, 9));
    }

    @Test
    void softmaxAndLogSoftmaxMatchReference() {
        int cols = 13;
        check("softmax", (g, v) -> Softmax.softmax(v[0]), x -> softmaxRows(x[0], cols, false), FWD, GRAD,
                scaled(Input.random(random, 3, cols), 3));
        check("logSoftmax", (g, v) -> Softmax.logSoftmax(v[0]), x -> softmaxRows(x[0], cols, true), FWD, GRAD,
                scaled(Input.random(random, 3, cols), 3));
    }

    @Test
    void causalGroupedQueryAttentionMatchesReference() {
        int batch = 2, t = 7, heads = 4, kvHeads = 2, headDim = 5;
        check("attention", (g, v) -> Attention.causal(v[0], v[1], v[2], heads, kvHeads, headDim), x -> {
            double[] q = x[0], k = x[1], vv = x[2];
            double[] out = new double[batch * t * heads * headDim];
            double scale = 1 / Math.sqrt(headDim);
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < heads; h++) {
                    int kvh = h / (heads / kvHeads);
                    for (int i = 0; i < t; i++) {
                        double[] s = new double[i + 1];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j <= i; j++) {
                            double dot = 0;
                            for (int d = 0; d < headDim; d++) {
                                dot += q[((b * t + i) * heads + h) * headDim + d] * k[((b * t + j) * kvHeads + kvh) * headDim + d];
                            }
                            s[j] = dot * scale;
                            max = Math.max(max, s[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - max));
                        for (int d = 0; d < headDim; d++) {
                            double acc = 0;
                            for (int j = 0; j <= i; j++) acc += s[j] / sum * vv[((b * t + j) * kvHeads + kvh) * headDim + d];
                            out[((b * t + i) * heads + h) * headDim + d] = acc;
                        }
                    }
                }
            }
            return out;
        }, FWD, GRAD, Input.random(random, batch, t, heads * headDim), Input.random(random, batch, t, kvHeads * headDim),
                Input.random(random, batch, t, kvHeads * headDim));
    }

    @Test
    void scoreMinMaxNormalizationMatchesReference() {
        int rows = 3, n = 9;
        int[] candidates = {9, 5, 1};   // a full row, a prompt of five, and a single candidate (maps to 0)
        check("score min-max", (g, v) -> ScoreNormalization.minMax(v[0], candidates), x -> {
            double[] y = x[0].clone();
            for (int b = 0; b < rows; b++) {
                double min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
                for (int t = 0; t < candidates[b]; t++) { min = Math.min(min, x[0][b * n + t]); max = Math.max(max, x[0][b * n + t]); }
                for (int t = 0; t < candidates[b]; t++) y[b * n + t] = (x[0][b * n + t] - min) / (max - min + ScoreNormalization.EPS);
            }
            return y;
        }, FWD, GRAD, scaled(Input.random(random, rows, n), 3));
    }

    @Test
    void sumAndMeanMatchReference() {
        check("sum", (g, v) -> Reductions.sum(v[0]), x -> new double[] {java.util.Arrays.stream(x[0]).sum()}, FWD, GRAD,
                Input.random(random, 4, 7));
        check("mean", (g, v) -> Reductions.mean(v[0]), x -> new double[] {java.util.Arrays.stream(x[0]).average().orElseThrow()},
                FWD, GRAD, Input.random(random, 33));
    }

    @Test
    void crossEntropyFromLogitsSkipsIgnoredRows() {
        int rows = 5, vocab = 11;
        int[] targets = {3, CrossEntropy.IGNORE_INDEX, 0, 10, 7};
        check("cross-entropy", (g, v) -> CrossEntropy.fromLogits(v[0], targets), x -> new double[] {ceRef(x[0], targets, vocab)},
                FWD, GRAD, scaled(Input.random(random, rows, vocab), 3));
    }

    @Test
    void fusedLinearCrossEntropyEqualsLinearThenCrossEntropy() {
        int rows = 9, c = 6, vocab = 13;
        int[] targets = {1, 12, 0, CrossEntropy.IGNORE_INDEX, 5, 5, 7, 2, 11};
        check("fused linear cross-entropy (chunks of 4 rows)", (g, v) -> CrossEntropy.linear(v[0], v[1], targets, 0, 4),
                x -> new double[] {ceRef(matmulRef(Layout.ABT, x[0], x[1], rows, vocab, c), targets, vocab)},
                FWD, GRAD, Input.random(random, rows, c), Input.random(random, vocab, c));
    }

    static double ceRef(double[] logits, int[] targets, int vocab) {
        double[] logp = softmaxRows(logits, vocab, true);
        double sum = 0;
        int count = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == CrossEntropy.IGNORE_INDEX) continue;
            sum -= logp[r * vocab + targets[r]];
            count++;
        }
        return sum / count;
    }

    @Test
    void embeddingLookupScattersGradientsOfRepeatedIds() {
        int vocab = 6, dim = 5;
        int[] ids = {4, 1, 4, 0, 4};
        check("embedding", (g, v) -> Embedding.lookup(g, v[0], ids, 0, ids.length), x -> {
            double[] y = new double[ids.length * dim];
            for (int t = 0; t < ids.length; t++) System.arraycopy(x[0], ids[t] * dim, y, t * dim, dim);
            return y;
        }, FWD, GRAD, Input.random(random, vocab, dim));
    }

    @Test
    void shapeOpsMoveGradientsBack() {
        check("transpose", (g, v) -> Shapes.transpose(v[0], 0, 1), x -> {
            double[] y = new double[12];
            for (int i = 0; i < 3; i++) for (int j = 0; j < 4; j++) y[j * 3 + i] = x[0][i * 4 + j];
            return y;
        }, FWD, GRAD, Input.random(random, 3, 4));
        check("slice", (g, v) -> Shapes.slice(v[0], 1, 1, 3), x -> {
            double[] y = new double[6];
            for (int i = 0; i < 3; i++) for (int j = 0; j < 2; j++) y[i * 2 + j] = x[0][i * 4 + 1 + j];
            return y;
        }, FWD, GRAD, Input.random(random, 3, 4));
        check("concat", (g, v) -> Shapes.concat(1, v[0], v[1]), x -> {
            double[] y = new double[2 * 5];
            for (int i = 0; i < 2; i++) {
                System.arraycopy(x[0], i * 2, y, i * 5, 2);
                System.arraycopy(x[1], i * 3, y, i * 5 + 2, 3);
            }
            return y;
        }, FWD, GRAD, Input.random(random, 2, 2), Input.random(random, 2, 3));
    }

    @Test
    void dropoutScalesSurvivorsAndMasksGradient() {
        float p = 0.3f;
        long seed = 99;
        check("dropout", (g, v) -> Activations.dropout(v[0], p, seed), x -> {
            SplittableRandom r = new SplittableRandom(seed);
            double[] y = new double[x[0].length];
            for (int i = 0; i < y.length; i++) y[i] = r.nextDouble() < p ? 0 : x[0][i] * (float) (1f / (1f - p));
            return y;
        }, FWD, GRAD, Input.random(random, 6, 7));
    }

    private static Input scaled(Input in, double factor) {
        double[] v = in.values().clone();
        for (int i = 0; i < v.length; i++) v[i] *= factor;
        return new Input(in.shape(), v, true);
    }
}
