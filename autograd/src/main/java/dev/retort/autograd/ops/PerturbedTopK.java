package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Differentiable top-k token selection by random perturbation (Berthet et al. 2020, "Learning with
 * differentiable perturbed optimizers"; Cordonnier et al. 2021; used for token pruning by Ragazzi et al., ACL
 * Findings 2024): a scorer gives one score per token, the k best tokens of each row are kept in their original
 * order, and the scorer learns through a smoothed selection.
 *
 * <p><b>Forward.</b> For a row of scores s (its first m tokens compete; see {@link Rows}) draw n Gaussian noise
 * vectors Z_1..Z_n ∈ ℝ^m. Sample q keeps the k tokens with the largest s + σ·Z_q, sorted by position
 * i_1 &lt; i_2 &lt; ... &lt; i_k, and one-hots them into Y_q [k × N] with Y_q[r, i_r] = 1. The op returns the
 * average Ȳ = (1/n) Σ_q Y_q: row r of Ȳ is a distribution over which token is the r-th kept one. The kept hidden
 * states are then Ȳ·H ({@link #gather}); at σ → 0 every Y_q is the hard top-k and Ȳ·H copies its rows.
 *
 * <p><b>Backward.</b> Ȳ estimates Y_σ(s) = E_Z[Y(s + σZ)], which (unlike Y) is smooth in s. For an upstream
 * gradient G = dL/dȲ the scalar path is F(s) = E_Z[⟨G, Y(s + σZ)⟩], and Gaussian integration by parts (Stein's
 * lemma) gives ∇F(s) = E_Z[⟨G, Y(s + σZ)⟩ · Z] / σ: the Jacobian of Y_σ is E[Y·Zᵀ]/σ. The backward estimates
 * this with the same n samples as the forward:
 * <pre>
 *   c_q        = ⟨G, Y_q⟩ = Σ_r G[r, i_r(q)]              (the upstream gradient read at the kept tokens)
 *   dL/ds[j]  += 1/(n·σ) · Σ_q (c_q − b_q) · Z_q[j]       (b_q: the mean of the other samples' c)
 * </pre>
 * which is O(n·(k + m)) per row: the [k × N × m] Jacobian never exists. The baseline b_q ({@link
 * Estimator#LEAVE_ONE_OUT}, the default) leaves the expectation unchanged and removes most of the noise;
 * {@link Estimator} also has the plain form without it and the paper code's diagonal form.
 *
 * <p><b>Noise and threads.</b> The noise is a function of {@code seed} alone: one {@link SplittableRandom} is
 * split once per (row, sample) in row-major order before any work starts, so a step is reproducible and bitwise
 * identical for any thread count. Perturbed values are rounded to float before ranking; ties (probability zero
 * with noise, common without) go to the lower index, as in {@link #hard}.
 *
 * <p><b>σ = 0</b> makes the forward the hard top-k (for every sample, so Ȳ is exact one-hots) and the gradient
 * zero: the estimator's limit of a piecewise constant function.
 *
 * <p>Pruning the prompt tokens of a batch (answer tokens, from promptLength[b] on, are the caller's to keep):
 * <pre>{@code
 * Var scores = Shapes.reshape(scorer.forward(hidden), batch, tokens);          // Linear(d, 1): [B × N]
 * Rows rows = Rows.prefix(promptLength, schedule.keepRatio(step));              // K = rows.maxKeep()
 * Var ybar = PerturbedTopK.indicators(scores, rows,
 *         Options.DEFAULT.withSigma(schedule.sigma(step)), stepSeed);         // [B × K × N]
 * Var kept = PerturbedTopK.gather(ybar, hidden);                               // [B × K × d]
 * // inference: PerturbedTopK.hard(scores.value(), rows) gives the kept indices to gather directly
 * }</pre>
 */
public final class PerturbedTopK {
    private PerturbedTopK() {}

    /** Fraction of the prunable tokens kept once the keep-ratio schedule has reached its target (issue 14: 0.5). */
    public static final double DEFAULT_KEEP_RATIO = 0.5;

    /**
     * Noise samples per row (the range is 10 to 200). The gradient's standard error falls as 1/√n while
     * the cost grows as n: one sort of m keys per sample forward, O(k + m) per sample backward. At m = 2048 prompt
     * tokens and k = 1024, 100 samples cost about 5 to 30 ms per row on one core (measured on a shared machine)
     * and 1.2 MB of saved noise and indices, small next to a student's forward and backward pass, while a
     * single step's gradient is still noisy (for a random upstream gradient the per-score standard deviation
     * was 21 times the gradient's root mean square at n = 100): fewer samples would buy little time.
     */
    public static final int DEFAULT_SAMPLES = 100;

    /**
     * Noise scale, in score units (the range is 0.1 to 0.2). The scorer is a linear layer free to scale
     * its scores, so σ sets where the smoothing starts rather than how much there is; the lower end keeps the
     * training selection close to the hard top-k used at inference. {@link PruneSchedule} can decay it to 0.
     */
    public static final double DEFAULT_SIGMA = 0.1;

    /** How the backward estimates dL/ds from the forward's samples. */
    public enum Estimator {
        /**
         * 1/(nσ) Σ_q c_q·Z_q: the plain Monte Carlo form of E[Y·Zᵀ]/σ (Berthet et al. 2020), unbiased for ∇F. Its
         * noise does not vanish where the gradient does: when every sample keeps the same tokens the gradient is
         * 0, yet this gives c·(mean of Z)/σ. In PerturbedTopKTest a scorer trained with it did not learn.
         */
        SCORE_FUNCTION,
        /**
         * 1/(nσ) Σ_q (c_q − b_q)·Z_q with the leave-one-out baseline b_q = (Σ_{p≠q} c_p)/(n − 1): still unbiased,
         * because b_q does not depend on Z_q and E[Z_q] = 0, and it removes the noise that the mean of c
         * contributes (often most of it: c_q = ⟨G, Y_q⟩ is far from zero when G is), and it is exactly 0 when every
         * sample keeps the same tokens. Equal to n/(n−1) · 1/(nσ) Σ_q (c_q − c̄)·Z_q. Needs n ≥ 2. The default:
         * it passes the same gradient check as {@link #SCORE_FUNCTION} with a 1.5 times smaller standard error,
         * and trains the test's scorer where that one fails.
         */
        LEAVE_ONE_OUT,
        /**
         * The public code of Cordonnier et al. (and the copies of it that later papers use): dL/ds[j] = 1/(nσ) Σ_q Σ_r
         * G[r, j]·Y_q[r, j]·Z_q[j], only the terms of E[Y·Zᵀ]/σ where the output token and the differentiated
         * score are the same token. It drops how raising s[j] pushes other tokens out of the selection, so it is
         * not the gradient of F; kept to reproduce that code.
         */
        REFERENCE_DIAGONAL
    }

    /** The estimator the backward uses unless told otherwise. */
    public static final Estimator DEFAULT_ESTIMATOR = Estimator.LEAVE_ONE_OUT;

    /** Noise samples per row, noise scale σ (0 = hard), and the gradient estimator. */
    public record Options(int samples, double sigma, Estimator estimator) {
        public static final Options DEFAULT = new Options(DEFAULT_SAMPLES, DEFAULT_SIGMA, DEFAULT_ESTIMATOR);

        public Options {
            if (samples < 1) throw new IllegalArgumentException("perturbed top-k needs at least one sample, got " + samples);
            if (!(sigma >= 0) || Double.isInfinite(sigma)) throw new IllegalArgumentException("sigma must be finite and >= 0, got " + sigma);
            if (estimator == null) throw new IllegalArgumentException("estimator is null");
            if (estimator == Estimator.LEAVE_ONE_OUT && samples < 2 && sigma > 0) {
                throw new IllegalArgumentException("the leave-one-out estimator needs at least 2 samples");
            }
        }

        /** With the default estimator. */
        public Options(int samples, double sigma) {
            this(samples, sigma, DEFAULT_ESTIMATOR);
        }

        public Options withSigma(double sigma) {
            return new Options(samples, sigma, estimator);
        }
    }

    /**
     * Which tokens of each row compete and how many of them are kept: in row b, tokens [0, candidates[b]) compete
     * and keep[b] of them are kept; tokens from candidates[b] on are never selected and get no gradient. In Retort
     * only prompt tokens are prunable, so a caller passes each row's prompt length and keeps its answer tokens
     * itself (they are not part of the output). Rows keep different counts when their prompts differ: the output
     * has K = max keep[b] rows per batch entry, and rows keep[b]..K−1 of entry b are zero (padding, which gathers
     * zero vectors).
     */
    public record Rows(int[] candidates, int[] keep) {
        public Rows {
            if (candidates.length != keep.length) {
                throw new IllegalArgumentException(candidates.length + " candidate counts for " + keep.length + " keep counts");
            }
            candidates = candidates.clone();
            keep = keep.clone();
            for (int b = 0; b < keep.length; b++) {
                if (candidates[b] < 0 || keep[b] < 0 || keep[b] > candidates[b]) {
                    throw new IllegalArgumentException("row " + b + ": keep " + keep[b] + " of " + candidates[b] + " candidates");
                }
            }
        }

        /** Every row: all {@code tokens} compete, {@code k} are kept. */
        public static Rows all(int batch, int tokens, int k) {
            int[] m = new int[batch], keep = new int[batch];
            Arrays.fill(m, tokens);
            Arrays.fill(keep, k);
            return new Rows(m, keep);
        }

        /** Row b prunes its first {@code prunable[b]} tokens, keeping {@link #keepCount}(keepRatio, prunable[b]). */
        public static Rows prefix(int[] prunable, double keepRatio) {
            int[] keep = new int[prunable.length];
            for (int b = 0; b < keep.length; b++) keep[b] = keepCount(keepRatio, prunable[b]);
            return new Rows(prunable, keep);
        }

        public int batch() { return keep.length; }

        /** K: the rows per batch entry of the indicators. */
        public int maxKeep() {
            int k = 0;
            for (int kb : keep) k = Math.max(k, kb);
            return k;
        }

        @Override public int[] candidates() { return candidates.clone(); }
        @Override public int[] keep() { return keep.clone(); }

        int candidates(int b) { return candidates[b]; }
        int keep(int b) { return keep[b]; }

        void check(int batch, int tokens) {
            if (batch() != batch) throw new IllegalArgumentException("rows for " + batch() + " batch entries, scores have " + batch);
            for (int b = 0; b < batch; b++) {
                if (candidates[b] > tokens) {
                    throw new IllegalArgumentException("row " + b + ": " + candidates[b] + " candidates in " + tokens + " tokens");
                }
            }
        }
    }

    /**
     * Tokens kept out of {@code prunable}: round(ratio · prunable) with halves rounded up, at least 1 when there is
     * a token to keep, at most {@code prunable}.
     */
    public static int keepCount(double ratio, int prunable) {
        if (!(ratio >= 0 && ratio <= 1)) throw new IllegalArgumentException("keep ratio must be in [0, 1], got " + ratio);
        if (prunable <= 0) return 0;
        long k = Math.round(ratio * prunable);
        return (int) Math.max(1, Math.min(prunable, k));
    }

    // ---- the op --------------------------------------------------------------------------------------------

    /**
     * The averaged indicators Ȳ [B × K × N] of scores [B × N] (K = rows.maxKeep()), differentiable with respect to
     * the scores. The noise comes from {@code seed} alone.
     */
    public static Var indicators(Var scores, Rows rows, Options options, long seed) {
        Graph g = scores.graph();
        scores.requireContiguousF32("perturbed top-k scores");
        if (scores.value().rank() != 2) {
            throw new IllegalArgumentException("perturbed top-k: scores must be [batch × tokens], got " + Arrays.toString(scores.shape()));
        }
        int batch = scores.dim(0), tokens = scores.dim(1);
        rows.check(batch, tokens);
        int k = rows.maxKeep();
        float[][] s = readRows(scores.value(), rows);
        int n = options.sigma() == 0 ? 1 : options.samples();   // without noise every sample is the same
        float sigma = (float) options.sigma();

        // Streams, split in a fixed order before any task runs: the noise does not depend on the thread count.
        SplittableRandom root = new SplittableRandom(seed);
        SplittableRandom[] streams = new SplittableRandom[batch * n];
        for (int i = 0; i < streams.length; i++) streams[i] = root.split();

        // noise[b][q·m + j] = Z_q[j]  (float: the perturbed values are computed from these exact numbers)
        // kept[b][q·k_b + r] = i_r(q), ascending in r
        float[][] noise = new float[batch][];
        int[][] kept = new int[batch][];
        for (int b = 0; b < batch; b++) {
            noise[b] = new float[sigma == 0 ? 0 : n * rows.candidates(b)];
            kept[b] = new int[n * rows.keep(b)];
        }
        ThreadPool.shared().parallelFor(batch * n, task -> {
            int b = task / n, q = task % n, m = rows.candidates(b), kb = rows.keep(b);
            float[] perturbed = s[b];
            if (sigma != 0) {
                SplittableRandom random = streams[task];
                perturbed = new float[m];
                for (int j = 0; j < m; j++) {
                    float z = (float) random.nextGaussian();
                    noise[b][q * m + j] = z;
                    perturbed[j] = s[b][j] + sigma * z;
                }
            }
            topK(perturbed, m, kb, kept[b], q * kb);
        });

        // forward: Ȳ[b, r, t] = (1/n) · #{q : i_r(q) = t}
        Tensor ybar = g.zeros(batch, k, tokens);
        ThreadPool.shared().parallelFor(batch, b -> {
            int kb = rows.keep(b);
            int[] counts = new int[k * tokens];
            for (int q = 0; q < n; q++) {
                for (int r = 0; r < kb; r++) counts[r * tokens + kept[b][q * kb + r]]++;
            }
            MemorySegment out = ybar.segment();
            long base = (long) b * k * tokens;
            for (int i = 0; i < counts.length; i++) {
                if (counts[i] != 0) out.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, base + i, (float) ((double) counts[i] / n));
            }
        });

        return Var.result(g, ybar, true, dYbar -> {
            if (sigma == 0) return;   // the gradient of a piecewise constant function: zero
            Tensor dScores = scores.gradForAccumulation();
            ThreadPool.shared().parallelFor(batch, b -> {
                double[] grad = scoreGradient(options.estimator(), dYbar.segment(), (long) b * k * tokens, tokens,
                        noise[b], kept[b], n, rows.candidates(b), rows.keep(b), sigma);
                MemorySegment ds = dScores.segment();
                long base = (long) b * tokens;
                for (int j = 0; j < grad.length; j++) {
                    ds.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, base + j,
                            (float) (ds.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, base + j) + grad[j]));
                }
            });
        }, scores);
    }

    /**
     * dL/ds[j] for j &lt; m of one row, from the upstream gradient G (row-major [K × N] at {@code gOff}), the noise
     * [n × m] and the kept indices [n × k_b] of its n samples.
     */
    private static double[] scoreGradient(Estimator estimator, MemorySegment g, long gOff, int tokens,
                                          float[] noise, int[] kept, int n, int m, int kb, float sigma) {
        double[] grad = new double[m];
        double scale = 1.0 / ((double) n * sigma);
        if (estimator == Estimator.REFERENCE_DIAGONAL) {
            // Σ_q Σ_r G[r, j]·Y_q[r, j]·Z_q[j]: for each kept (r, j = i_r(q)), G[r, j]·Z_q[j]
            for (int q = 0; q < n; q++) {
                for (int r = 0; r < kb; r++) {
                    int j = kept[q * kb + r];
                    grad[j] += g.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, gOff + (long) r * tokens + j) * (double) noise[q * m + j];
                }
            }
        } else {
            // c_q = ⟨G, Y_q⟩ = Σ_r G[r, i_r(q)]
            double[] c = new double[n];
            double sum = 0;
            for (int q = 0; q < n; q++) {
                double cq = 0;
                for (int r = 0; r < kb; r++) cq += g.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, gOff + (long) r * tokens + kept[q * kb + r]);
                c[q] = cq;
                sum += cq;
            }
            if (estimator == Estimator.LEAVE_ONE_OUT) {
                // c_q − (Σ c − c_q)/(n − 1)
                for (int q = 0; q < n; q++) c[q] -= (sum - c[q]) / (n - 1);
            }
            // Σ_q c_q·Z_q[j]
            for (int q = 0; q < n; q++) {
                double cq = c[q];
                if (cq == 0) continue;
                int at = q * m;
                for (int j = 0; j < m; j++) grad[j] += cq * noise[at + j];
            }
        }
        for (int j = 0; j < m; j++) grad[j] *= scale;
        return grad;
    }

    // ---- inference -------------------------------------------------------------------------------------------

    /**
     * The hard top-k of each row of scores [B × N]: kept[b] holds the keep[b] indices among the first
     * candidates[b] tokens with the largest scores, ascending. Exact and deterministic: equal scores go to the
     * lower index, −0 equals +0, and a NaN score is an error.
     */
    public static int[][] hard(Tensor scores, Rows rows) {
        if (scores.rank() != 2) throw new IllegalArgumentException("hard top-k: scores must be [batch × tokens], got " + Arrays.toString(scores.shape()));
        rows.check(scores.dim(0), scores.dim(1));
        float[][] s = readRows(scores, rows);
        int[][] kept = new int[s.length][];
        for (int b = 0; b < s.length; b++) {
            kept[b] = new int[rows.keep(b)];
            topK(s[b], rows.candidates(b), rows.keep(b), kept[b], 0);
        }
        return kept;
    }

    /** One-hot indicators [B × K × N] of kept indices (rows past kept[b].length zero): a constant for {@link #gather}. */
    public static Var oneHot(Graph g, int[][] kept, int tokens) {
        int k = 0;
        for (int[] kb : kept) k = Math.max(k, kb.length);
        Tensor y = g.zeros(kept.length, k, tokens);
        for (int b = 0; b < kept.length; b++) {
            for (int r = 0; r < kept[b].length; r++) y.setFlat(((long) b * k + r) * tokens + kept[b][r], 1f);
        }
        return Var.result(g, y, true, null);   // no inputs: a constant
    }

    /**
     * The selected hidden states: Ȳ [B × K × N] · hidden [B × N × d] → [B × K × d], a batched matmul whose
     * backward sends dL/dȲ = dL/dout · hiddenᵀ to the indicators (and so to the scores) and Ȳᵀ · dL/dout to hidden.
     */
    public static Var gather(Var indicators, Var hidden) {
        if (indicators.value().rank() != 3 || hidden.value().rank() != 3 || indicators.dim(0) != hidden.dim(0)
                || indicators.dim(2) != hidden.dim(1)) {
            throw new IllegalArgumentException("gather: indicators " + Arrays.toString(indicators.shape())
                    + " [B × K × N] do not fit hidden " + Arrays.toString(hidden.shape()) + " [B × N × d]");
        }
        return MatMul.matmul(indicators, hidden, Layout.AB);
    }

    // ---- selection -------------------------------------------------------------------------------------------

    /**
     * The k largest of values[0, m), ties to the lower index, written ascending to out[at, at + k). Each value
     * becomes a long whose order is (value descending, index ascending), and the longs are sorted.
     */
    static void topK(float[] values, int m, int k, int[] out, int at) {
        if (k == 0) return;
        long[] keys = new long[m];
        for (int j = 0; j < m; j++) {
            int bits = Float.floatToRawIntBits(values[j] + 0f);   // + 0f turns −0 into +0
            int ascending = bits ^ ((bits >> 31) & 0x7fffffff);  // signed int order = float order
            keys[j] = ((long) ~ascending << 32) | j;              // ~ reverses: larger values first
        }
        Arrays.sort(keys);
        for (int r = 0; r < k; r++) out[at + r] = (int) keys[r];
        Arrays.sort(out, at, at + k);
    }

    /** The candidate scores of each row, checked for NaN. */
    private static float[][] readRows(Tensor scores, Rows rows) {
        int tokens = scores.dim(1);
        float[][] s = new float[scores.dim(0)][];
        for (int b = 0; b < s.length; b++) {
            s[b] = new float[rows.candidates(b)];
            for (int j = 0; j < s[b].length; j++) {
                float v = scores.getFlat((long) b * tokens + j);
                if (Float.isNaN(v)) throw new IllegalArgumentException("top-k: score of token " + j + " in row " + b + " is NaN");
                s[b][j] = v;
            }
        }
        return s;
    }
}
