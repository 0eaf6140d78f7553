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
