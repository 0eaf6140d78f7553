package dev.retort.models.llama;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Module;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.PerturbedTopK;
import dev.retort.autograd.ops.PruneSchedule;
import dev.retort.autograd.ops.Rope;
import dev.retort.autograd.ops.ScoreNormalization;
import dev.retort.autograd.ops.Shapes;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.tensor.DType;
import dev.retort.tensor.RopeTables;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise.RopeLayout;
import dev.retort.tensor.kernels.Gemm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Learned token pruning inside a Llama model (PrunePert: Ragazzi et al., ACL Findings 2024, with the perturbed
 * top-k of {@link PerturbedTopK}). At layer L ({@link Settings#layer}) the prompt tokens of each row compete for
 * ⌈keep·n⌉ places (rounded as {@link PerturbedTopK#keepCount}); layers L.. see only the kept prompt tokens followed
 * by every token after the prompt, in their original order and at their original RoPE positions.
 *
 * <p><b>Which tokens are prunable.</b> Row b prunes its first {@code prunable[b]} tokens. For a row of one
 * example, that is every prompt token but the last ({@link #prunableFromTargets}: the tokens before the first
 * position that has a target): the last prompt token's output predicts the first answer token, so it stays, as
 * the newest token does at inference (a prompt of n tokens prunes n − 1). Answer tokens are never pruned.
 *
 * <p><b>The pruned sequence</b> of row b is [the k_b kept prompt tokens ascending, then tokens prunable[b] ..
 * T−1], S = max_b(k_b + T − prunable[b]) long, rows that are shorter padded at the end with zero vectors. Order is
 * preserved and padding comes last, so the ordinary causal mask by index is the causal mask by original position:
 * a kept token attends to the kept tokens at earlier original positions and to nothing pruned. The layers get each
 * token's original position for RoPE (padding: position 0; nothing real attends to it).
 *
 * <p><b>Training</b> ({@link Mode#LEARNED}, a graph with gradients and σ &gt; 0): the scorer Linear(C, 1) scores the
 * hidden states entering layer L, {@link PerturbedTopK#indicators} gives Ȳ [B × K × T], and the kept rows are
 * Ȳ·H, so the loss reaches the scorer through the perturbed top-k's score-function backward and the student
 * through Ȳᵀ·dL. A kept slot's RoPE position (and its target, and the teacher row it is compared with) is that of
 * the noise-free top-k's token, the one kept at inference; with a small σ most samples agree with it.
 * <b>Evaluation</b> (no gradients, σ = 0) and the other modes select with the hard top-k: Ȳ is one-hot and Ȳ·H
 * copies rows exactly.
 *
 * <p><b>Targets.</b> The logits exist only for the pruned sequence. A pruned token's own target is dropped: for
 * rows of one example it is never a counted target (prompt positions before the last one predict prompt tokens,
 * which are not trained on), so the loss on answer tokens is the unpruned model's objective on the shorter
 * context.
 *
 * <p><b>Baselines</b> ({@link Mode}): {@code attention} keeps the tokens that receive the most attention at layer
 * L − 1 (the heuristic PrunePert replaces: softmax probabilities summed over heads and over the prompt's query
 * positions at or after the token), {@code random} keeps a seeded uniform choice. Neither trains the scorer.
 *
 * <p>Parameters (not part of the model's state dict; saved beside it by {@link TokenPruningFiles}):
 * {@code scorer.weight} [1 × C], {@code scorer.bias} [1], F32.
 */
public final class TokenPruning extends Module {

    /** How the kept tokens are chosen. */
    public enum Mode {
        /** The scorer's scores: perturbed top-k while training, hard top-k otherwise. */
        LEARNED,
        /** The attention each token receives at layer L − 1 (a baseline; needs L ≥ 1). */
        ATTENTION,
        /** Seeded uniform scores (a baseline). */
        RANDOM;

        public String cliName() { return name().toLowerCase(Locale.ROOT); }

        public static Mode parse(String s) {
            for (Mode m : values()) if (m.cliName().equals(s)) return m;
            throw new IllegalArgumentException("prune mode must be learned, attention or random, got '" + s + "'");
        }
    }

    /**
     * Layer L (0-based: pruning happens before layer L runs), the keep ratio used at inference, the perturbed top-k's
     * samples and σ, and the mode. {@code seed} initialises the scorer and is the random mode's inference seed.
     */
    public record Settings(int layer, double keepRatio, int samples, double sigma, Mode mode, long seed) {
        public Settings {
            if (layer < 0) throw new IllegalArgumentException("--prune-layer must be >= 0, got " + layer);
            if (!(keepRatio > 0 && keepRatio <= 1)) throw new IllegalArgumentException("--keep-ratio must be in (0, 1], got " + keepRatio);
            if (mode == null) throw new IllegalArgumentException("prune mode is null");
            if (mode == Mode.ATTENTION && layer < 1) {
                throw new IllegalArgumentException("--prune-mode attention ranks tokens by the attention of layer L − 1, so --prune-layer must be >= 1");
            }
            new PerturbedTopK.Options(samples, sigma);   // validates both
        }

        /** The defaults of {@link PerturbedTopK} at {@code layer}, learned. */
        public static Settings of(int layer, double keepRatio) {
            return new Settings(layer, keepRatio, PerturbedTopK.DEFAULT_SAMPLES, PerturbedTopK.DEFAULT_SIGMA, Mode.LEARNED, 0);
        }

        public Settings withMode(Mode m) { return new Settings(layer, keepRatio, samples, sigma, m, seed); }
    }

    /**
     * What one forward uses: the keep ratio and σ of this step (a {@link dev.retort.autograd.ops.PruneSchedule}'s),
     * and the seed of its noise (a function of the run's seed and the step, so a resumed run is bitwise the same).
     */
    public record Step(double keepRatio, double sigma, long seed) {
        public Step {
            if (!(keepRatio > 0 && keepRatio <= 1)) throw new IllegalArgumentException("keep ratio must be in (0, 1], got " + keepRatio);
            if (!(sigma >= 0) || Double.isInfinite(sigma)) throw new IllegalArgumentException("sigma must be finite and >= 0, got " + sigma);
        }
    }

    private final Settings settings;
    private final Linear scorer;
    private PruneSchedule schedule;   // training: keep ratio and σ by optimizer step; null = the settings' own
    private boolean normalizeScores;  // training: each row's scores min-max normalised before the perturbed top-k

    /**
     * A fresh scorer for a model of width {@code hidden}: weight ~ U(−1/√C, 1/√C) (torch's Linear), bias 0, F32,
     * trainable in {@link Mode#LEARNED}.
     */
    public TokenPruning(Settings settings, int hidden, Arena arena) {
        super("");
        this.settings = settings;
        Tensor w = Tensor.zeros(arena, DType.F32, 1, hidden);
        double bound = 1 / Math.sqrt(hidden);
        SplittableRandom random = new SplittableRandom(settings.seed() ^ 0x5C0BE5L);
        for (int i = 0; i < hidden; i++) w.setFlat(i, (float) ((random.nextDouble() * 2 - 1) * bound));
        scorer = child(new Linear("scorer", w, Tensor.zeros(arena, DType.F32, 1), settings.mode() == Mode.LEARNED));
    }

    public Settings settings() { return settings; }

    /** The scorer: weight [1 × C], bias [1]. */
    public Linear scorer() { return scorer; }

    /** The settings' own keep ratio and σ, with {@code seed} (evaluation, tests). */
    public Step step(long seed) {
        return new Step(settings.keepRatio(), settings.sigma(), seed);
    }

    /**
     * The step of inference and evaluation: the settings' keep ratio, σ = 0 (the hard top-k), and the settings' seed,
     * which the random mode draws from; {@link LlamaInference} prunes a prompt as the training forward does with it.
     */
    public Step inferenceStep() {
        return new Step(settings.keepRatio(), 0, settings.seed());
    }

    /** Sets the keep ratio and σ training uses at each step ({@link #trainingStep}); null = the settings' throughout. */
    public void setSchedule(PruneSchedule schedule) {
        this.schedule = schedule;
    }

    /**
     * Whether training min-max normalises each row's prunable scores before the perturbed top-k
     * ({@link ScoreNormalization}: σ becomes a fraction of the scores' range). The hard top-k's choice, so inference,
     * is the same either way.
     */
    public void setNormalizeScores(boolean normalizeScores) {
        this.normalizeScores = normalizeScores;
    }

    /**
     * The step of a training micro-batch: the schedule's keep ratio and σ at optimizer step {@code step}, and a noise
     * seed that is a function of the settings' seed, the step and the batch's rows (so a resumed run draws the same
     * noise).
     */
    public Step trainingStep(long step, int[] rows) {
        long seed = settings.seed() ^ (step * 0x9E3779B97F4A7C15L) ^ ((long) Arrays.hashCode(rows) << 17);
        return schedule == null ? new Step(settings.keepRatio(), settings.sigma(), seed)
                : new Step(schedule.keepRatio(step), schedule.sigma(step), seed);
    }

    /** Tokens kept of {@code prunable}: {@link PerturbedTopK#keepCount}. */
    public static int keepCount(double keepRatio, int prunable) {
        return PerturbedTopK.keepCount(keepRatio, prunable);
    }

    /**
     * Per row, the tokens before the first position with a target ({@code targets[b·T + t] != ignore}): for a row of
     * one example, its prompt but the last prompt token (whose target is the first answer token). A row with no
     * target prunes nothing.
     */
    public static int[] prunableFromTargets(int[] targets, int batch, int seq, int ignoreIndex) {
        if (targets.length != batch * seq) throw new IllegalArgumentException(targets.length + " targets for " + batch + " × " + seq);
        int[] prunable = new int[batch];
        for (int b = 0; b < batch; b++) {
            int t = 0;
            while (t < seq && targets[b * seq + t] == ignoreIndex) t++;
            prunable[b] = t == seq ? 0 : t;
        }
        return prunable;
    }

    // ---- the pruned sequence ----------------------------------------------------------------------------------

    /**
     * The layout of a pruned batch: {@code seq} = S tokens per row; origin[b·S + i] is the flat index b·T + t of the
     * original token at place i (the noise-free selection's, for kept prompt slots), or −1 for padding; positions[b·S +
     * i] its original position t (0 for padding); kept[b] the kept prompt indices of row b, ascending.
     */
    public record Layout(int batch, int seq, int originalSeq, int[] origin, int[] positions, int[][] kept) {
        /** targets [B × T] read at the kept places: [B × S], padding ignored. */
        public int[] targets(int[] targets, int ignoreIndex) {
            int[] out = new int[origin.length];
            for (int i = 0; i < out.length; i++) out[i] = origin[i] < 0 ? ignoreIndex : targets[origin[i]];
            return out;
        }

        /** Rows [B·T × width] of {@code full} gathered to [B·S × width] (padding: zeros), into a fresh tensor of {@code g}. */
        public Tensor gatherRows(Graph g, Tensor full) {
            int width = full.dim(-1);
            Tensor out = g.zeros(batch, seq, width);
            for (int i = 0; i < origin.length; i++) {
                if (origin[i] < 0) continue;
                full.reshape(batch * originalSeq, width).slice(0, origin[i], origin[i] + 1).copyInto(out.reshape(batch * seq, width).slice(0, i, i + 1));
            }
            return out;
        }
    }

    /** What {@link #select} returns: the selection matrix S [B × S × T] (Var) and the layout it makes. */
    record Selection(Var matrix, Layout layout) {}

    /**
     * Chooses the kept tokens of hidden states {@code x} [B × T × C] entering layer L, and returns the selection
     * matrix whose product with x is the pruned sequence. {@code previous} is the input of layer L − 1 (attention
     * mode only), {@code layerBefore} that layer.
     */
    Selection select(Var x, int[] prunable, Step step, Var previous, DecoderLayer layerBefore, RopeTables rope,
                     LlamaConfig config) {
        Graph g = x.graph();
        int batch = x.dim(0), seq = x.dim(1);
        if (prunable.length != batch) throw new IllegalArgumentException(prunable.length + " prunable counts for a batch of " + batch);
        for (int b = 0; b < batch; b++) {
            if (prunable[b] < 0 || prunable[b] > seq) throw new IllegalArgumentException("row " + b + ": " + prunable[b] + " prunable of " + seq + " tokens");
        }
        PerturbedTopK.Rows rows = PerturbedTopK.Rows.prefix(prunable, step.keepRatio());
        Var indicators;    // Ȳ [B × K × T]
        int[][] kept;      // the noise-free choice: positions, targets, teacher rows
        switch (settings.mode()) {
            case LEARNED -> {
                Var scores = Shapes.reshape(scorer.forward(x), batch, seq);                       // [B × T]
                kept = PerturbedTopK.hard(scores.value(), rows);
                if (g.gradEnabled() && step.sigma() > 0 && scorer.weight().trainable()) {
                    if (normalizeScores) scores = ScoreNormalization.minMax(scores, prunable);
                    indicators = PerturbedTopK.indicators(scores, rows,
                            new PerturbedTopK.Options(settings.samples(), step.sigma()), step.seed());
                } else {
                    indicators = PerturbedTopK.oneHot(g, kept, seq);
                }
            }
            case RANDOM -> {
                kept = PerturbedTopK.hard(randomScores(g, batch, seq, step.seed()), rows);
                indicators = PerturbedTopK.oneHot(g, kept, seq);
            }
            case ATTENTION -> {
                kept = PerturbedTopK.hard(attentionScores(g, previous, layerBefore, rope, prunable, config), rows);
                indicators = PerturbedTopK.oneHot(g, kept, seq);
            }
            default -> throw new AssertionError();
        }
        Layout layout = layout(kept, prunable, batch, seq);
        return new Selection(place(indicators, layout, prunable), layout);
    }

    /** The layout of rows that keep {@code kept[b]} of their first prunable[b] tokens and every token after them. */
    static Layout layout(int[][] kept, int[] prunable, int batch, int seq) {
        int s = 0;
        for (int b = 0; b < batch; b++) s = Math.max(s, kept[b].length + seq - prunable[b]);
        int[] origin = new int[batch * s], positions = new int[batch * s];
        Arrays.fill(origin, -1);
        for (int b = 0; b < batch; b++) {
            int i = 0;
            for (int t : kept[b]) { origin[b * s + i] = b * seq + t; positions[b * s + i] = t; i++; }
            for (int t = prunable[b]; t < seq; t++) { origin[b * s + i] = b * seq + t; positions[b * s + i] = t; i++; }
        }
        int[][] copy = new int[batch][];
        for (int b = 0; b < batch; b++) copy[b] = kept[b].clone();
        return new Layout(batch, s, seq, origin, positions, copy);
    }

    /**
     * The selection matrix S [B × S × T] from the indicators Ȳ [B × K × T]:
     * <pre>
     *   S[b, r, :]          = Ȳ[b, r, :]              r &lt; k_b              (the kept prompt slots)
     *   S[b, k_b + j, p_b + j] = 1                     j &lt; T − p_b          (every token after the prunable ones)
     * </pre>
     * everything else 0 (padding). Backward: dȲ[b, r, :] += dS[b, r, :] for r &lt; k_b.
     */
    static Var place(Var ybar, Layout layout, int[] prunable) {
        Graph g = ybar.graph();
        int batch = layout.batch(), s = layout.seq(), seq = layout.originalSeq(), k = ybar.dim(1);
        Tensor out = g.zeros(batch, s, seq);
        MemorySegment y = ybar.value().segment(), o = out.segment();
        long yOff = ybar.value().offset();
        for (int b = 0; b < batch; b++) {
            int kb = layout.kept()[b].length;
            // kept slots: copy Ȳ's rows
            MemorySegment.copy(y, (yOff + (long) b * k * seq) * Float.BYTES, o, (long) b * s * seq * Float.BYTES, (long) kb * seq * Float.BYTES);
            // the tokens after the prunable ones: one-hot
            for (int j = 0; prunable[b] + j < seq; j++) {
                o.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, ((long) b * s + kb + j) * seq + prunable[b] + j, 1f);
            }
        }
        return Var.result(g, out, true, dS -> {
            Tensor dY = ybar.gradForAccumulation();
            MemorySegment ds = dS.segment(), dy = dY.segment();
            for (int b = 0; b < batch; b++) {
                int kb = layout.kept()[b].length;
                for (long i = 0; i < (long) kb * seq; i++) {
                    long from = (long) b * s * seq + i, to = (long) b * k * seq + i;
                    dy.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, to,
                            dy.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, to) + ds.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, from));
                }
            }
        }, ybar);
    }

    /** The pruned sequence: S [B × S × T] · x [B × T × C] → [B × S × C]. */
    static Var apply(Selection selection, Var x) {
        return MatMul.matmul(selection.matrix(), x, Gemm.Layout.AB);
    }

    // ---- the baselines' scores --------------------------------------------------------------------------------

    /** Uniform scores [B × T] from {@code seed}, one split stream per row (the inference path uses row 0). */
    static float[][] randomScores(int batch, int seq, long seed) {
        SplittableRandom root = new SplittableRandom(seed ^ 0x52414E44L);
        float[][] s = new float[batch][seq];
        for (int b = 0; b < batch; b++) {
            SplittableRandom r = root.split();
            for (int t = 0; t < seq; t++) s[b][t] = (float) r.nextDouble();
        }
        return s;
    }

    static Tensor randomScores(Graph g, int batch, int seq, long seed) {
        float[][] r = randomScores(batch, seq, seed);
        Tensor s = g.allocate(batch, seq);
        for (int b = 0; b < batch; b++) for (int t = 0; t < seq; t++) s.setFlat((long) b * seq + t, r[b][t]);
        return s;
    }

    /**
     * The attention each token receives at layer L − 1, [B × T]: q and k recomputed without gradients from the
     * layer's input {@code previous} [B × T × C], then {@link #attentionReceived}.
     */
    static Tensor attentionScores(Graph g, Var previous, DecoderLayer layer, RopeTables rope, int[] prunable, LlamaConfig shapes) {
        int batch = previous.dim(0), seq = previous.dim(1);
        int[] positions = new int[batch * seq];
        for (int i = 0; i < positions.length; i++) positions[i] = i % seq;
        float[] q, k;
        try (Graph ng = Graph.noGrad(g.pool())) {
            Var h = layer.inputNorm.forward(ng.constant(copy(ng, previous.value())));
            Var qv = Rope.apply(layer.qProj.forward(h), shapes.numAttentionHeads(), shapes.headDim(), positions, rope.cos(), rope.sin(), RopeLayout.HALF);
            Var kv = Rope.apply(layer.kProj.forward(h), shapes.numKeyValueHeads(), shapes.headDim(), positions, rope.cos(), rope.sin(), RopeLayout.HALF);
            q = toArray(qv.value());
            k = toArray(kv.value());
        }
        int[] queries = new int[batch];
        for (int b = 0; b < batch; b++) queries[b] = prunable[b] + 1;   // the prompt: the prunable tokens and the last one
        float[] scores = new float[batch * seq];
        for (int b = 0; b < batch; b++) {
            float[] row = attentionReceived(q, (long) b * seq * shapes.numAttentionHeads() * shapes.headDim(),
                    k, (long) b * seq * shapes.numKeyValueHeads() * shapes.headDim(), Math.min(queries[b], seq), shapes.numAttentionHeads(), shapes.numKeyValueHeads(), shapes.headDim());
            System.arraycopy(row, 0, scores, b * seq, row.length);
        }
        Tensor out = g.zeros(batch, seq);
        for (int i = 0; i < scores.length; i++) out.setFlat(i, scores[i]);
        return out;
    }

    /**
     * received[j] = Σ_heads Σ_{i=j}^{n−1} softmax_i(q_i·k_·/√d)[j] for one sequence of n tokens: q [n × H·d] at
     * {@code qOff}, k [n × Hkv·d] at {@code kOff} (after RoPE), causal, grouped-query. In double. Shared by the
     * training forward and {@link LlamaInference}, so both choose the same tokens.
     */
    static float[] attentionReceived(float[] q, long qOff, float[] k, long kOff, int n, int heads, int kvHeads, int headDim) {
        double[] received = new double[n];
        double scale = 1 / Math.sqrt(headDim);
        int group = heads / kvHeads, qWidth = heads * headDim, kWidth = kvHeads * headDim;
        double[] logits = new double[n];
        for (int h = 0; h < heads; h++) {
            int kh = h / group;
            for (int i = 0; i < n; i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) {
                        dot += (double) q[(int) (qOff + (long) i * qWidth + h * headDim + d)] * k[(int) (kOff + (long) j * kWidth + kh * headDim + d)];
                    }
                    logits[j] = dot * scale;
                    max = Math.max(max, logits[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) sum += Math.exp(logits[j] - max);
                for (int j = 0; j <= i; j++) received[j] += Math.exp(logits[j] - max) / sum;
            }
        }
        float[] out = new float[n];
        for (int j = 0; j < n; j++) out[j] = (float) received[j];
        return out;
    }

    private static Tensor copy(Graph g, Tensor t) {
        Tensor c = g.allocate(t.shape());
        t.copyInto(c);
        return c;
    }

    static float[] toArray(Tensor t) {
        float[] a = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < a.length; i++) a[i] = t.getFlat(i);
        return a;
    }
}
