package dev.retort.models.llama;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.nn.Linear;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise;
import dev.retort.tensor.kernels.Elementwise.RopeLayout;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Gemm.Layout;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Fast inference over a {@link LlamaModel}'s weights with a KV cache: no autograd, no per-token allocation,
 * BF16/F16 weights read in place. {@link #forward} feeds the next tokens of one sequence (a whole prompt at
 * once, or one token while generating) and returns the logits of the last one.
 *
 * <p>Reads in the order of the equations, layer by layer: norm → q,k,v → RoPE → attention over the cache →
 * o → residual → norm → SwiGLU → residual; then the final norm and the LM head.
 */
public final class LlamaInference implements AutoCloseable {
    private final LlamaModel model;
    private final LlamaConfig c;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();
    private final int capacity, chunk;
    private final Tensor[] keyCache, valueCache;   // per layer: [capacity × kvHeads × headDim]
    private final Tensor x, h, q, attn, proj, gate, up, logits;
    private int position;

    /** A session that can hold {@code capacity} tokens, processing prompts {@code chunk} tokens at a time. */
    public LlamaInference(LlamaModel model, int capacity, int chunk) {
        this.model = model;
        this.c = model.config();
        this.kernels = Kernels.get();
        if (capacity > c.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("capacity " + capacity + " exceeds max_position_embeddings " + c.maxPositionEmbeddings());
        }
        for (DecoderLayer layer : model.layers()) {
            for (Linear l : java.util.List.of(layer.qProj, layer.kProj, layer.vProj, layer.oProj, layer.gateProj, layer.upProj, layer.downProj)) {
                if (l.adapter() != null) {
                    throw new IllegalStateException(l.name() + " has an adapter attached, which the KV-cache path does not apply; "
                            + "merge it into the weights (or export the model) first");
                }
            }
        }
        this.capacity = capacity;
        this.chunk = Math.max(1, chunk);
        int kvWidth = c.numKeyValueHeads() * c.headDim(), qWidth = c.numAttentionHeads() * c.headDim();
        keyCache = new Tensor[c.numHiddenLayers()];
        valueCache = new Tensor[c.numHiddenLayers()];
        for (int l = 0; l < keyCache.length; l++) {
            keyCache[l] = Tensor.zeros(arena, DType.F32, capacity, kvWidth);
            valueCache[l] = Tensor.zeros(arena, DType.F32, capacity, kvWidth);
        }
        x = Tensor.zeros(arena, DType.F32, this.chunk, c.hiddenSize());
        h = Tensor.zeros(arena, DType.F32, this.chunk, c.hiddenSize());
        q = Tensor.zeros(arena, DType.F32, this.chunk, qWidth);
        attn = Tensor.zeros(arena, DType.F32, this.chunk, qWidth);
        proj = Tensor.zeros(arena, DType.F32, this.chunk, Math.max(c.hiddenSize(), kvWidth));
        gate = Tensor.zeros(arena, DType.F32, this.chunk, c.intermediateSize());
        up = Tensor.zeros(arena, DType.F32, this.chunk, c.intermediateSize());
        logits = Tensor.zeros(arena, DType.F32, c.vocabSize());
    }

    /** Tokens processed so far (the position of the next token). */
    public int position() { return position; }

    /** Feeds {@code tokens} after those already seen; returns the logits [V] after the last (a live view). */
    public Tensor forward(int[] tokens) {
        if (tokens.length == 0) throw new IllegalArgumentException("forward needs at least one token");
        if (position + tokens.length > capacity) {
            throw new IllegalStateException("the sequence would reach " + (position + tokens.length)
                    + " tokens; this session holds " + capacity);
        }
        for (int start = 0; start < tokens.length; start += chunk) {
            int n = Math.min(chunk, tokens.length - start);
            forwardChunk(tokens, start, n);
        }
        return logits;
    }

    private void forwardChunk(int[] tokens, int start, int n) {
        Elementwise ew = kernels.elementwise();
        int hidden = c.hiddenSize(), heads = c.numAttentionHeads(), kvHeads = c.numKeyValueHeads(), headDim = c.headDim();
        int kvWidth = kvHeads * headDim, qWidth = heads * headDim;
        int[] positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = position + i;
        float eps = (float) c.rmsNormEps();

        // x[n × C] = embeddings of the new tokens
        Tensor emb = model.embedTokens().value();
        for (int i = 0; i < n; i++) {
            int id = tokens[start + i];
            if (id < 0 || id >= c.vocabSize()) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + c.vocabSize() + ")");
        }
        ew.embeddingGather(n, tokens, start, c.vocabSize(), hidden, emb.segment(), emb.offset(), emb.dtype(), x.segment(), 0);

        for (int l = 0; l < c.numHiddenLayers(); l++) {
            DecoderLayer layer = model.layers().get(l);
            Tensor kCache = keyCache[l], vCache = valueCache[l];
            long kvOffset = (long) position * kvWidth;
            // attention block
            rmsNorm(n, x, layer.inputNorm.weight(), eps, h);
            linear(n, h, layer.qProj, q.segment(), 0);
            linear(n, h, layer.kProj, kCache.segment(), kvOffset);
            linear(n, h, layer.vProj, vCache.segment(), kvOffset);
            ew.rope(RopeLayout.HALF, n, heads, headDim, qWidth, q.segment(), 0, positions, model.rope().cos().segment(), model.rope().sin().segment(), false);
            ew.rope(RopeLayout.HALF, n, kvHeads, headDim, kvWidth, kCache.segment(), kvOffset, positions, model.rope().cos().segment(), model.rope().sin().segment(), false);
            kernels.attention().forward(1, n, position, heads, kvHeads, headDim, (float) (1 / Math.sqrt(headDim)),
                    q.segment(), 0, kCache.segment(), 0, vCache.segment(), 0, (long) capacity * kvWidth, attn.segment(), 0, null, 0);
            linear(n, attn, layer.oProj, proj.segment(), 0);
            ew.add(n * hidden, x.segment(), 0, 1, proj.segment(), 0, 1, x.segment(), 0);
            // MLP block
            rmsNorm(n, x, layer.postAttentionNorm.weight(), eps, h);
            linear(n, h, layer.gateProj, gate.segment(), 0);
            linear(n, h, layer.upProj, up.segment(), 0);
            ew.swiglu(n * c.intermediateSize(), gate.segment(), 0, up.segment(), 0, gate.segment(), 0);
            linear(n, gate, layer.downProj, proj.segment(), 0);
            ew.add(n * hidden, x.segment(), 0, 1, proj.segment(), 0, 1, x.segment(), 0);
        }
        position += n;

        // logits of the last token: LM head over the final norm
        Tensor last = x.slice(0, n - 1, n);
        Parameter normWeight = model.norm().weight();
        ew.rmsNorm(1, hidden, eps, last.segment(), last.offset(), normWeight.value().segment(), normWeight.value().offset(), h.segment(), 0, null, 0);
        Tensor head = model.lmHead().value();
        kernels.gemm().matvec(c.vocabSize(), hidden, head.segment(), head.offset(), hidden, head.dtype(), h.segment(), 0, logits.segment(), 0);
    }

    private void rmsNorm(int n, Tensor in, Parameter weight, float eps, Tensor out) {
        Tensor w = weight.value();
        kernels.elementwise().rmsNorm(n, in.dim(1), eps, in.segment(), 0, w.segment(), w.offset(), out.segment(), 0, null, 0);
    }

    /** out[n × outFeatures] = in[n × inFeatures]·Wᵀ (+ b): matrix-vector for one token, GEMM for several. */
    private void linear(int n, Tensor in, Linear layer, MemorySegment out, long outOffset) {
        Tensor w = layer.weight().value();
        int outFeatures = w.dim(0), inFeatures = w.dim(1);
        Gemm gemm = kernels.gemm();
        if (n == 1) {
            gemm.matvec(outFeatures, inFeatures, w.segment(), w.offset(), inFeatures, w.dtype(), in.segment(), 0, out, outOffset);
        } else {
            gemm.gemm(Layout.ABT, n, outFeatures, inFeatures, 1f, in.segment(), 0, inFeatures,
                    w.segment(), w.offset(), inFeatures, w.dtype(), 0f, out, outOffset, outFeatures);
        }
        if (layer.bias() != null) {
            Tensor b = layer.bias().value();
            for (int i = 0; i < n; i++) {
                kernels.elementwise().add(outFeatures, out, outOffset + (long) i * outFeatures, 1, b.segment(), b.offset(), 1,
                        out, outOffset + (long) i * outFeatures);
            }
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
