package dev.retort.models.llama;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Module;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.RmsNormLayer;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.ops.Embedding;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.Shapes;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.tensor.RopeTables;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A Llama causal language model as autograd modules, with Hugging Face parameter names
 * ({@code model.embed_tokens.weight}, {@code model.layers.N...}, {@code model.norm.weight}, {@code lm_head.weight}).
 * This is the training path; {@link LlamaInference} is the fast KV-cache path over the same weights.
 *
 * <p>Shapes: B batch, T sequence, C hidden size, V vocabulary. Tokens are laid out [B × T] row-major.
 */
public final class LlamaModel extends Module {
    /**
     * Rows of logits the loss computes at a time. Each chunk re-reads (and the GEMM re-packs) the whole LM head
     * [V × C], so chunks must be tall enough for that to stay small against the chunk's own arithmetic; 1024
     * rows of a 32000-token vocabulary are 131 MB, half of what the full logits of a B=8, T=256 batch would be.
     */
    public static final int LOSS_CHUNK_ROWS = 1024;
    private final LlamaConfig config;
    private final Parameter embedTokens;
    private final List<DecoderLayer> layers;
    private final RmsNormLayer norm;
    private final Parameter lmHead;   // the embedding itself when tie_word_embeddings
    private final RopeTables rope;
    private TokenPruning pruning;     // null: every layer sees every token

    private LlamaModel(LlamaConfig config, WeightSource weights) {
        super("");
        this.config = config;
        embedTokens = parameter("model.embed_tokens.weight", weights.weight("model.embed_tokens.weight"), weights.trainable);
        List<DecoderLayer> list = new ArrayList<>();
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            list.add(child(new DecoderLayer("model.layers." + i, config, weights)));
        }
        layers = Collections.unmodifiableList(list);
        norm = child(weights.norm("model.norm", config));
        lmHead = config.tieWordEmbeddings() ? embedTokens
                : parameter("lm_head.weight", weights.weight("lm_head.weight"), weights.trainable);
        rope = RopeTables.create(weights.arena, config.maxPositionEmbeddings(), config.headDim(), config.ropeTheta(),
                config.ropeScaling() == null ? null : new RopeTables.Llama3Scaling(config.ropeScaling().factor(),
                        config.ropeScaling().lowFreqFactor(), config.ropeScaling().highFreqFactor(),
                        config.ropeScaling().originalMaxPositionEmbeddings()));
    }

    /**
     * The model in a checkpoint. {@code trainable}: F32 copies of every parameter in {@code arena}; otherwise
     * the checkpoint's tensors are used in place and frozen (BF16/F16 stay as stored).
     */
    public static LlamaModel load(LlamaConfig config, ModelWeights weights, Arena arena, boolean trainable) {
        return new LlamaModel(config, WeightSource.checkpoint(weights, config, arena, trainable));
    }

    /** A trainable model with random weights (N(0, 0.02²), norms at 1). */
    public static LlamaModel random(LlamaConfig config, Arena arena, long seed) {
        return new LlamaModel(config, WeightSource.random(config, arena, seed));
    }

    public LlamaConfig config() { return config; }
    public List<DecoderLayer> layers() { return layers; }
    public Parameter embedTokens() { return embedTokens; }
    public Parameter lmHead() { return lmHead; }
    public RmsNormLayer norm() { return norm; }
    public RopeTables rope() { return rope; }

    /** The token pruning the pruned forward ({@link #pruned}) and {@link LlamaInference} apply, or null. */
    public TokenPruning pruning() { return pruning; }

    /**
     * Sets (or with null removes) the token pruning. It is not a child module: the model's own state dict, and so
     * the student Retort writes, is unchanged, and the scorer is saved beside it ({@link TokenPruningFiles}).
     */
    public void setPruning(TokenPruning pruning) {
        if (pruning != null) {
            if (pruning.settings().layer() >= layers.size()) {
                throw new IllegalArgumentException("--prune-layer " + pruning.settings().layer() + " is not a layer of this "
                        + layers.size() + "-layer model (0-based; pruning happens before that layer)");
            }
            if (pruning.scorer().inFeatures() != config.hiddenSize()) {
                throw new IllegalArgumentException("the token scorer reads " + pruning.scorer().inFeatures()
                        + " features; this model's hidden size is " + config.hiddenSize());
            }
        }
        this.pruning = pruning;
    }

    /**
     * The final normalised hidden states [B × T × C] of tokens [B × T]. When {@code layerOutputs} is not null it
     * receives the residual stream after every layer (index 0 = embeddings, i = after layer i), for feature
     * distillation.
     */
    public Var hidden(Graph g, int[] tokens, int batch, int seq, List<Var> layerOutputs) {
        if (tokens.length != batch * seq) {
            throw new IllegalArgumentException(tokens.length + " tokens for batch " + batch + " × sequence " + seq);
        }
        if (seq > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + seq + " exceeds max_position_embeddings " + config.maxPositionEmbeddings());
        }
        int[] positions = new int[batch * seq];
        for (int i = 0; i < positions.length; i++) positions[i] = i % seq;
        Var x = Shapes.reshape(Embedding.lookup(g, embedTokens, tokens, 0, tokens.length), batch, seq, config.hiddenSize());
        if (layerOutputs != null) layerOutputs.add(x);
        for (DecoderLayer layer : layers) {
            x = layer.forward(x, positions, rope);
            if (layerOutputs != null) layerOutputs.add(x);
        }
        return norm.forward(x);
    }

    /**
     * The final normalised hidden states of a pruned forward ({@link TokenPruning}): layers 0..L−1 on tokens [B × T]
     * with positions 0..T−1, then row b keeps {@code keepCount(step.keepRatio, prunable[b])} of its first
     * prunable[b] tokens and every later one, and layers L.. run on that shorter sequence at the tokens' original
     * positions. Returns hidden [B × S × C] and the {@link TokenPruning.Layout} that maps its places back to the
     * original tokens (targets, teacher rows). Needs {@link #setPruning}; without it use {@link #hidden}.
     */
    public Pruned pruned(Graph g, int[] tokens, int[] prunable, int batch, int seq, TokenPruning.Step step) {
        if (pruning == null) throw new IllegalStateException("this model has no token pruning; call setPruning first");
        if (tokens.length != batch * seq) {
            throw new IllegalArgumentException(tokens.length + " tokens for batch " + batch + " × sequence " + seq);
        }
        if (seq > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence length " + seq + " exceeds max_position_embeddings " + config.maxPositionEmbeddings());
        }
        int at = pruning.settings().layer();
        int[] positions = new int[batch * seq];
        for (int i = 0; i < positions.length; i++) positions[i] = i % seq;
        Var x = Shapes.reshape(Embedding.lookup(g, embedTokens, tokens, 0, tokens.length), batch, seq, config.hiddenSize());
        Var previous = null;                                      // the input of layer L − 1 (attention mode)
        for (int l = 0; l < at; l++) {
            previous = x;
            x = layers.get(l).forward(x, positions, rope);       // [B × T × C]
        }
        TokenPruning.Selection selection = pruning.select(x, prunable, step, previous, at == 0 ? null : layers.get(at - 1), rope, config);
        TokenPruning.Layout layout = selection.layout();
        x = TokenPruning.apply(selection, x);                     // [B × S × C]
        for (int l = at; l < layers.size(); l++) x = layers.get(l).forward(x, layout.positions(), rope);
        return new Pruned(norm.forward(x), layout);
    }

    /** A pruned forward's final hidden states [B × S × C] and where each of its S places came from. */
    public record Pruned(Var hidden, TokenPruning.Layout layout) {}

    /**
     * The mean next-token cross-entropy of a pruned forward: targets [B × T] are read at the kept places (a pruned
     * token's own target is dropped; see {@link TokenPruning}); the prunable tokens of each row are those before
     * its first target ({@link TokenPruning#prunableFromTargets}).
     */
    public Var prunedLoss(Graph g, int[] tokens, int[] targets, int batch, int seq, double divisor, TokenPruning.Step step) {
        int[] prunable = TokenPruning.prunableFromTargets(targets, batch, seq, CrossEntropy.IGNORE_INDEX);
        Pruned p = pruned(g, tokens, prunable, batch, seq, step);
        return CrossEntropy.linear(p.hidden(), lmHead, p.layout().targets(targets, CrossEntropy.IGNORE_INDEX), divisor, LOSS_CHUNK_ROWS);
    }

    /** Logits [B × T × V]. */
    public Var logits(Graph g, int[] tokens, int batch, int seq) {
        return MatMul.linear(hidden(g, tokens, batch, seq, null), lmHead);
    }

    /**
     * Mean next-token cross-entropy: targets[b·T + t] is the token that should follow position t (or
     * {@link CrossEntropy#IGNORE_INDEX}); {@code divisor} 0 means the number of counted targets. Computed
     * without materialising the logits.
     */
    public Var loss(Graph g, int[] tokens, int[] targets, int batch, int seq, double divisor) {
        Var h = hidden(g, tokens, batch, seq, null);
        return CrossEntropy.linear(h, lmHead, targets, divisor, LOSS_CHUNK_ROWS);
    }

    /** targets for plain next-token prediction within each row: tokens shifted left, last position ignored. */
    public static int[] shiftedTargets(int[] tokens, int batch, int seq) {
        int[] targets = new int[tokens.length];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq; t++) {
                targets[b * seq + t] = t + 1 < seq ? tokens[b * seq + t + 1] : CrossEntropy.IGNORE_INDEX;
            }
        }
        return targets;
    }
}
