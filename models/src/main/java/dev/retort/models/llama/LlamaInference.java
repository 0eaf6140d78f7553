package dev.retort.models.llama;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.ops.PerturbedTopK;
import dev.retort.models.adapter.BottleneckAdapter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.lora.LoraAdapter;
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
 * BF16/F16 weights read in place, unmerged LoRA adapters applied (without dropout) as their own small products,
 * bottleneck adapters ({@link BottleneckAdapter}) applied to their projection's output as in the training forward.
 * A session holds {@code slots} independent sequences, each with its own cache.
 * {@link #forward(int, int[])} feeds the next tokens of one sequence (a whole prompt at once, in chunks, or one
 * token) and returns the logits of the last one; {@link #decode} feeds one token to each of several sequences
 * in one pass, so every weight matrix is read once for all of them ({@link Gemm#matvecs}).
 *
 * <p>Every row is computed exactly as it would be alone: a decode step of B sequences gives each the logits
 * bit for bit of decoding it by itself, so batched generation writes the same text as one sequence at a time.
 *
 * <p>Reads in the order of the equations, layer by layer: norm → q,k,v → RoPE → attention over the cache →
 * o → residual → norm → SwiGLU → residual; then the final norm and the LM head.
 */
public final class LlamaInference implements AutoCloseable {
    private final LlamaModel model;
    private final LlamaConfig c;
    private final Kernels kernels;
    private final Arena arena = Arena.ofShared();
    private final int slots, capacity, chunk, kvWidth, qWidth;
    private final Tensor[] keyCache, valueCache;   // per layer: [slots × capacity × kvWidth] (layers >= pruneLayer: prunedCapacity)
    private final Tensor x, h, q, k, v, attn, proj, gate, up;   // [rows × …], rows = max(chunk, slots)
    private final Tensor loraDown, loraUp;       // [rows × r], [rows × out] of unmerged LoRA adapters; null without
    private final Tensor adapterDown, adapterUp; // [rows × size], [rows × out] of bottleneck adapters; null without
    private final Tensor logits, rowLogits;      // [slots × V]: each sequence's latest; [rows × V] of one decode step
    private final int[] position;                // per slot: tokens it holds (the position of its next token)
    // token pruning (null/unused without): layers from pruneLayer on hold only each prompt's kept tokens
    private final TokenPruning pruning;
    private final int pruneLayer;                // the first pruned layer; numHiddenLayers without pruning
    private final int prunedCapacity;            // tokens per sequence in the caches of layers >= pruneLayer
    private final int[] kept;                    // per slot: rows in the caches of layers >= pruneLayer
    private final Tensor pruneHidden;            // [capacity × C]: a prompt's hidden states entering pruneLayer
    private final Tensor pruneQueries;           // [capacity × qWidth]: its queries at layer pruneLayer − 1 (attention mode)

    /** A session for one sequence of up to {@code capacity} tokens, processing prompts {@code chunk} tokens at a time. */
    public LlamaInference(LlamaModel model, int capacity, int chunk) {
        this(model, 1, capacity, chunk);
    }

    /** A session for {@code slots} sequences of up to {@code capacity} tokens each. */
    public LlamaInference(LlamaModel model, int slots, int capacity, int chunk) {
        this(model, slots, capacity, chunk, capacity);
    }

    /**
     * A session whose layers from the model's token-pruning layer on hold at most {@code prunedCapacity} tokens per
     * sequence (the kept prompt tokens and those after it: see {@link #prunedRows}); without pruning it is ignored.
     */
    public LlamaInference(LlamaModel model, int slots, int capacity, int chunk, int prunedCapacity) {
        this.model = model;
        this.c = model.config();
        this.kernels = Kernels.get();
        if (slots < 1) throw new IllegalArgumentException("an inference session needs at least one sequence slot, got " + slots);
        if (capacity < 1 || capacity > c.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("capacity " + capacity + " must be in [1, max_position_embeddings "
                    + c.maxPositionEmbeddings() + "]");
        }
        int loraRank = 0, bottleneckSize = 0, bottleneckOut = 0;
        for (DecoderLayer layer : model.layers()) {
            for (Linear l : java.util.List.of(layer.qProj, layer.kProj, layer.vProj, layer.oProj, layer.gateProj, layer.upProj, layer.downProj)) {
                if (l.adapter() instanceof LoraAdapter lora) {
                    loraRank = Math.max(loraRank, lora.rank());
                } else if (l.adapter() instanceof BottleneckAdapter adapter) {
                    bottleneckSize = Math.max(bottleneckSize, adapter.size());
                    bottleneckOut = Math.max(bottleneckOut, adapter.hidden());
                } else if (l.adapter() != null) {
                    throw new IllegalStateException(l.name() + " has an adapter the KV-cache path cannot apply; "
                            + "merge it into the weights (or export the model) first");
                }
            }
        }
        this.slots = slots;
        this.capacity = capacity;
        this.pruneLayer = model.pruning() == null ? model.config().numHiddenLayers() : model.pruning().settings().layer();
        if (prunedCapacity < 1 || prunedCapacity > capacity) {
            throw new IllegalArgumentException("pruned capacity " + prunedCapacity + " must be in [1, capacity " + capacity + "]");
        }
        this.prunedCapacity = model.pruning() == null ? capacity : prunedCapacity;
        this.chunk = Math.max(1, chunk);
        this.kvWidth = c.numKeyValueHeads() * c.headDim();
        this.qWidth = c.numAttentionHeads() * c.headDim();
        keyCache = new Tensor[c.numHiddenLayers()];
        valueCache = new Tensor[c.numHiddenLayers()];
        for (int l = 0; l < keyCache.length; l++) {
            keyCache[l] = Tensor.zeros(arena, DType.F32, Math.multiplyExact(slots, layerCapacity(l)), kvWidth);
            valueCache[l] = Tensor.zeros(arena, DType.F32, Math.multiplyExact(slots, layerCapacity(l)), kvWidth);
        }
        int rows = Math.max(this.chunk, slots);
        x = Tensor.zeros(arena, DType.F32, rows, c.hiddenSize());
        h = Tensor.zeros(arena, DType.F32, rows, c.hiddenSize());
        q = Tensor.zeros(arena, DType.F32, rows, qWidth);
        k = Tensor.zeros(arena, DType.F32, rows, kvWidth);
        v = Tensor.zeros(arena, DType.F32, rows, kvWidth);
        attn = Tensor.zeros(arena, DType.F32, rows, qWidth);
        proj = Tensor.zeros(arena, DType.F32, rows, c.hiddenSize());
        gate = Tensor.zeros(arena, DType.F32, rows, c.intermediateSize());
        up = Tensor.zeros(arena, DType.F32, rows, c.intermediateSize());
        loraDown = loraRank == 0 ? null : Tensor.zeros(arena, DType.F32, rows, loraRank);
        loraUp = loraRank == 0 ? null : Tensor.zeros(arena, DType.F32, rows, Math.max(Math.max(qWidth, c.hiddenSize()), c.intermediateSize()));
        adapterDown = bottleneckSize == 0 ? null : Tensor.zeros(arena, DType.F32, rows, bottleneckSize);
        adapterUp = bottleneckSize == 0 ? null : Tensor.zeros(arena, DType.F32, rows, bottleneckOut);
        logits = Tensor.zeros(arena, DType.F32, slots, c.vocabSize());
        rowLogits = Tensor.zeros(arena, DType.F32, slots, c.vocabSize());
        position = new int[slots];
        pruning = model.pruning();
        kept = new int[slots];
        pruneHidden = pruning == null ? null : Tensor.zeros(arena, DType.F32, capacity, c.hiddenSize());
        pruneQueries = pruning == null || pruning.settings().mode() != TokenPruning.Mode.ATTENTION ? null
                : Tensor.zeros(arena, DType.F32, capacity, qWidth);
    }

    /** Sequences this session holds. */
    public int slots() { return slots; }

    /** Tokens each sequence can hold. */
    public int capacity() { return capacity; }

    /** Cache rows per sequence of layer {@code l}: the capacity, or the pruned capacity from the pruning layer on. */
    private int layerCapacity(int l) {
        return l < pruneLayer ? capacity : prunedCapacity;
    }

    /**
     * Rows a sequence needs in the caches of the pruned layers for a prompt of {@code promptLength} tokens followed
     * by {@code newTokens}: the kept prompt tokens (and its last) plus the new ones; all of them without pruning.
     */
    public static int prunedRows(LlamaModel model, int promptLength, int newTokens) {
        TokenPruning p = model.pruning();
        int prompt = p == null || promptLength < 2 ? promptLength : TokenPruning.keepCount(p.settings().keepRatio(), promptLength - 1) + 1;
        return prompt + newTokens;
    }

    /** Bytes the session's KV caches occupy (allocated, every slot). */
    public long allocatedCacheBytes() {
        long bytes = 0;
        for (Tensor t : keyCache) bytes += 2 * t.size() * Float.BYTES;
        return bytes;
    }

    /** Tokens sequence 0 holds (the position of its next token). */
    public int position() { return position[0]; }

    /** Tokens sequence {@code slot} holds (the position of its next token). */
    public int position(int slot) { return position[checkSlot(slot)]; }

    /** Empties sequence {@code slot}, so it can take a new prompt (its cache is overwritten as it refills). */
    public void reset(int slot) {
        position[checkSlot(slot)] = 0;
        kept[slot] = 0;
    }

    /**
     * Rows of KV cache sequence {@code slot} fills, summed over layers: position·L + kept·(layers − L) with token
     * pruning at layer L, position·layers without. Each row is 2·kvWidth floats (a key and a value).
     */
    public long cacheRows(int slot) {
        checkSlot(slot);
        return (long) position[slot] * pruneLayer + (long) kept[slot] * (c.numHiddenLayers() - pruneLayer);
    }

    /** Bytes of KV cache sequence {@code slot} fills: {@link #cacheRows} · 2 · kvWidth · 4. */
    public long cacheBytes(int slot) {
        return cacheRows(slot) * 2L * kvWidth * Float.BYTES;
    }

    /** The logits [V] after the latest token of sequence {@code slot} (a live view). */
    public Tensor logits(int slot) {
        return logits.slice(0, checkSlot(slot), slot + 1).reshape(c.vocabSize());
    }

    /** Feeds {@code tokens} to sequence 0 after those it holds; returns the logits [V] after the last (a live view). */
    public Tensor forward(int[] tokens) {
        return forward(0, tokens);
    }

    /**
     * Feeds {@code tokens} to sequence {@code slot}, {@code chunk} at a time; returns its logits [V] after the last.
     * With token pruning, the first tokens an empty sequence gets are its prompt and are pruned ({@link #prunedPrefill}).
     */
    public Tensor forward(int slot, int[] tokens) {
        checkSlot(slot);
        if (tokens.length == 0) throw new IllegalArgumentException("forward needs at least one token");
        checkRoom(slot, tokens.length);
        if (pruning != null && position[slot] == 0 && tokens.length > 1) {
            prunedPrefill(slot, tokens);
            return logits(slot);
        }
        for (int start = 0; start < tokens.length; start += chunk) {
            int n = Math.min(chunk, tokens.length - start);
            int[] rowSlots = new int[n];
            java.util.Arrays.fill(rowSlots, slot);
            step(n, tokens, start, rowSlots, true);
        }
        return logits(slot);
    }

    /**
     * Feeds one token to each sequence {@code slots[i]} (distinct), {@code tokens[i]} to it, in one pass; each
     * sequence's logits are then in {@link #logits(int)}, bitwise those of feeding it alone.
     */
    public void decode(int[] slots, int[] tokens) {
        if (slots.length != tokens.length) throw new IllegalArgumentException(slots.length + " sequences but " + tokens.length + " tokens");
        if (slots.length == 0) return;
        if (slots.length > this.slots) throw new IllegalArgumentException(slots.length + " sequences in one step; the session holds " + this.slots);
        boolean[] seen = new boolean[this.slots];
        for (int s : slots) {
            checkSlot(s);
            if (seen[s]) throw new IllegalArgumentException("sequence " + s + " appears twice in one decode step");
            seen[s] = true;
            checkRoom(s, 1);
        }
        step(slots.length, tokens, 0, slots, false);
    }

    private int checkSlot(int slot) {
        if (slot < 0 || slot >= slots) throw new IllegalArgumentException("sequence " + slot + " outside [0, " + slots + ")");
        return slot;
    }

    private void checkRoom(int slot, int tokens) {
        int keptAfter = pruning != null && position[slot] == 0 && tokens > 1
                ? prunedRows(model, tokens, 0) : kept[slot] + tokens;
        if (keptAfter > prunedCapacity) {
            throw new IllegalStateException("the pruned layers' caches would reach " + keptAfter + " tokens; this session holds "
                    + prunedCapacity + " there");
        }
        if ((long) position[slot] + tokens > capacity) {
            throw new IllegalStateException("the sequence would reach " + ((long) position[slot] + tokens)
                    + " tokens; this session holds " + capacity);
        }
    }

    /**
     * n rows through the model: row i is token {@code tokens[start + i]} of sequence {@code rowSlots[i]}. With
     * {@code oneSequence} the rows are consecutive tokens of one sequence (a prompt chunk: GEMMs, one attention
     * call, logits of the last row); otherwise each row is the next token of a different sequence (a decode
     * step: matrix-vector products that share each weight read, attention per row, logits of every row).
     */
    private void step(int n, int[] tokens, int start, int[] rowSlots, boolean oneSequence) {
        int[] positions = new int[n], prunedRows = new int[n];
        for (int i = 0; i < n; i++) {
            positions[i] = position[rowSlots[i]] + (oneSequence ? i : 0);
            prunedRows[i] = kept[rowSlots[i]] + (oneSequence ? i : 0);
        }
        embed(n, tokens, start);
        layers(0, c.numHiddenLayers(), n, rowSlots, oneSequence, positions, positions, prunedRows);
        if (oneSequence) {
            position[rowSlots[0]] += n;
            kept[rowSlots[0]] += n;
        } else {
            for (int slot : rowSlots) { position[slot]++; kept[slot]++; }
        }
        logits(n, rowSlots, oneSequence);
    }

    /**
     * A prompt of n tokens through a model with token pruning at layer L (in {@code chunk}s):
     * <ol>
     *   <li>layers 0..L−1 on every prompt token, their caches filled at positions 0..n−1; the hidden states entering
     *       layer L are kept in {@code pruneHidden} [n × C] (and layer L−1's queries, for the attention mode);</li>
     *   <li>the first n − 1 tokens are scored (the scorer, the attention they receive, or seeded uniform) and the
     *       hard top-k keeps {@link TokenPruning#keepCount}(keep ratio, n − 1) of them; the last token always stays;</li>
     *   <li>layers L.. on the k + 1 kept rows at their original positions, their caches filled at rows 0..k, so
     *       that later tokens attend only over kept tokens.</li>
     * </ol>
     * The training forward ({@link LlamaModel#pruned}) with the same prunable count makes the same choice.
     */
    private void prunedPrefill(int slot, int[] tokens) {
        int n = tokens.length, hidden = c.hiddenSize();
        for (int start = 0; start < n; start += chunk) {
            int m = Math.min(chunk, n - start);
            int[] rowSlots = new int[m], positions = new int[m];
            java.util.Arrays.fill(rowSlots, slot);
            for (int i = 0; i < m; i++) positions[i] = start + i;
            embed(m, tokens, start);
            layers(0, pruneLayer, m, rowSlots, true, positions, positions, positions);
            MemorySegment.copy(x.segment(), 0, pruneHidden.segment(), (long) start * hidden * Float.BYTES, (long) m * hidden * Float.BYTES);
            if (pruneQueries != null) {
                MemorySegment.copy(q.segment(), 0, pruneQueries.segment(), (long) start * qWidth * Float.BYTES, (long) m * qWidth * Float.BYTES);
            }
        }
        int prunable = n - 1;
        int[] choice = PerturbedTopK.hard(scores(slot, n), PerturbedTopK.Rows.prefix(new int[] {prunable},
                pruning.settings().keepRatio()))[0];
        int[] rows = java.util.Arrays.copyOf(choice, choice.length + 1);   // the kept prompt tokens, then the last
        rows[choice.length] = n - 1;
        for (int start = 0; start < rows.length; start += chunk) {
            int m = Math.min(chunk, rows.length - start);
            int[] rowSlots = new int[m], positions = new int[m], cacheRows = new int[m];
            java.util.Arrays.fill(rowSlots, slot);
            for (int i = 0; i < m; i++) {
                positions[i] = rows[start + i];
                cacheRows[i] = start + i;
                MemorySegment.copy(pruneHidden.segment(), (long) positions[i] * hidden * Float.BYTES, x.segment(),
                        (long) i * hidden * Float.BYTES, (long) hidden * Float.BYTES);
            }
            layers(pruneLayer, c.numHiddenLayers(), m, rowSlots, true, positions, null, cacheRows);
            if (start + m == rows.length) logits(m, rowSlots, true);
        }
        position[slot] = n;
        kept[slot] = rows.length;
    }

    /** Scores [1 × n] of a prompt's n tokens held in {@code pruneHidden} (and the caches), as the training forward's. */
    private Tensor scores(int slot, int n) {
        Tensor out = Tensor.zeros(arena, DType.F32, 1, n);   // small, once per prompt
        switch (pruning.settings().mode()) {
            case LEARNED -> {
                // s = h·wᵀ + b, the scorer Linear(C, 1) with the same GEMM as the training forward
                Tensor w = pruning.scorer().weight().value();
                kernels.gemm().gemm(Layout.ABT, n, 1, c.hiddenSize(), 1f, pruneHidden.segment(), 0, c.hiddenSize(),
                        w.segment(), w.offset(), c.hiddenSize(), w.dtype(), 0f, out.segment(), 0, 1);
                addBias(n, 1, out.segment(), pruning.scorer().bias().value());
            }
            case RANDOM -> {
                float[] r = TokenPruning.randomScores(1, n, pruning.settings().seed())[0];
                for (int j = 0; j < n; j++) out.setFlat(j, r[j]);
            }
            case ATTENTION -> {
                // layer L − 1's queries of the prompt and its keys in that layer's cache (slot's rows 0..n−1)
                float[] qs = TokenPruning.toArray(pruneQueries.slice(0, 0, n));
                float[] ks = TokenPruning.toArray(keyCache[pruneLayer - 1].slice(0, slot * capacity, slot * capacity + n));
                float[] r = TokenPruning.attentionReceived(qs, 0, ks, 0, n, c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim());
                for (int j = 0; j < n; j++) out.setFlat(j, r[j]);
            }
        }
        return out;
    }

    /** x[n × C] = embeddings of tokens[start, start + n). */
    private void embed(int n, int[] tokens, int start) {
        Tensor emb = model.embedTokens().value();
        for (int i = 0; i < n; i++) {
            int id = tokens[start + i];
            if (id < 0 || id >= c.vocabSize()) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + c.vocabSize() + ")");
        }
        kernels.elementwise().embeddingGather(n, tokens, start, c.vocabSize(), c.hiddenSize(), emb.segment(), emb.offset(), emb.dtype(), x.segment(), 0);
    }

    /**
     * Layers [from, to) over the n rows in x. Row i is at RoPE position positions[i]; its key and value go to cache
     * row cacheRows[i] of its sequence (layers before the pruning layer) or prunedRows[i] (from it on), and it
     * attends to that sequence's cache rows up to its own. Without pruning both are the positions.
     */
    private void layers(int from, int to, int n, int[] rowSlots, boolean oneSequence, int[] positions, int[] cacheRows, int[] prunedRows) {
        Elementwise ew = kernels.elementwise();
        int hidden = c.hiddenSize(), heads = c.numAttentionHeads(), kvHeads = c.numKeyValueHeads(), headDim = c.headDim();
        float eps = (float) c.rmsNormEps();
        boolean gemm = oneSequence && n > 1;

        for (int l = from; l < to; l++) {
            DecoderLayer layer = model.layers().get(l);
            int[] rows = l < pruneLayer ? cacheRows : prunedRows;
            int cap = layerCapacity(l);
            MemorySegment kCache = keyCache[l].segment(), vCache = valueCache[l].segment();
            // attention block: q, k, v of the new rows; k and v join each row's sequence in the cache
            rmsNorm(n, x, layer.inputNorm.weight(), eps, h);
            linear(n, gemm, h, layer.qProj, q.segment());
            linear(n, gemm, h, layer.kProj, k.segment());
            linear(n, gemm, h, layer.vProj, v.segment());
            ew.rope(RopeLayout.HALF, n, heads, headDim, qWidth, q.segment(), 0, positions, model.rope().cos().segment(), model.rope().sin().segment(), false);
            ew.rope(RopeLayout.HALF, n, kvHeads, headDim, kvWidth, k.segment(), 0, positions, model.rope().cos().segment(), model.rope().sin().segment(), false);
            for (int i = 0; i < n; i++) {
                long cacheRow = ((long) rowSlots[i] * cap + rows[i]) * kvWidth * Float.BYTES;
                MemorySegment.copy(k.segment(), (long) i * kvWidth * Float.BYTES, kCache, cacheRow, (long) kvWidth * Float.BYTES);
                MemorySegment.copy(v.segment(), (long) i * kvWidth * Float.BYTES, vCache, cacheRow, (long) kvWidth * Float.BYTES);
            }
            float scale = (float) (1 / Math.sqrt(headDim));
            for (int i = 0; i < n; i += oneSequence ? n : 1) {
                int count = oneSequence ? n : 1;
                long slotBase = (long) rowSlots[i] * cap * kvWidth;
                kernels.attention().forward(1, count, rows[i], heads, kvHeads, headDim, scale,
                        q.segment(), (long) i * qWidth, kCache, slotBase, vCache, slotBase, (long) cap * kvWidth,
                        attn.segment(), (long) i * qWidth, null, 0);
            }
            linear(n, gemm, attn, layer.oProj, proj.segment());
            ew.add(n * hidden, x.segment(), 0, 1, proj.segment(), 0, 1, x.segment(), 0);
            // MLP block
            rmsNorm(n, x, layer.postAttentionNorm.weight(), eps, h);
            linear(n, gemm, h, layer.gateProj, gate.segment());
            linear(n, gemm, h, layer.upProj, up.segment());
            ew.swiglu(n * c.intermediateSize(), gate.segment(), 0, up.segment(), 0, gate.segment(), 0);
            linear(n, gemm, gate, layer.downProj, proj.segment());
            ew.add(n * hidden, x.segment(), 0, 1, proj.segment(), 0, 1, x.segment(), 0);
        }
    }

    /** Logits: LM head over the final norm, of the last row (a prompt chunk) or of every row (a decode step). */
    private void logits(int n, int[] rowSlots, boolean oneSequence) {
        Elementwise ew = kernels.elementwise();
        int hidden = c.hiddenSize();
        float eps = (float) c.rmsNormEps();
        int first = oneSequence ? n - 1 : 0, count = oneSequence ? 1 : n;
        Parameter normWeight = model.norm().weight();
        ew.rmsNorm(count, hidden, eps, x.segment(), (long) first * hidden, normWeight.value().segment(), normWeight.value().offset(),
                h.segment(), 0, null, 0);
        Tensor head = model.lmHead().value();
        int vocab = c.vocabSize();
        kernels.gemm().matvecs(count, vocab, hidden, head.segment(), head.offset(), hidden, head.dtype(), h.segment(), 0,
                rowLogits.segment(), 0);
        for (int i = 0; i < count; i++) {
            MemorySegment.copy(rowLogits.segment(), (long) i * vocab * Float.BYTES, logits.segment(),
                    (long) rowSlots[first + i] * vocab * Float.BYTES, (long) vocab * Float.BYTES);
        }
    }

    private void rmsNorm(int n, Tensor in, Parameter weight, float eps, Tensor out) {
        Tensor w = weight.value();
        kernels.elementwise().rmsNorm(n, in.dim(1), eps, in.segment(), 0, w.segment(), w.offset(), out.segment(), 0, null, 0);
    }

    /**
     * out[n × outFeatures] = in[n × inFeatures]·Wᵀ (+ b), with the layer's adapter if any: a GEMM for the rows of a prompt chunk, matrix-vector
     * products (one weight read for all rows, each row as if alone) for one token or a decode step.
     */
    private void linear(int n, boolean gemm, Tensor in, Linear layer, MemorySegment out) {
        Tensor w = layer.weight().value();
        int outFeatures = w.dim(0), inFeatures = w.dim(1);
        product(n, gemm, in.segment(), inFeatures, w, outFeatures, out);
        if (layer.adapter() instanceof LoraAdapter lora && !lora.isMerged()) {
            // y += scale·(x·Aᵀ)·Bᵀ, the adapter's forward without dropout (inference): A [r × in], B [out × r]
            Tensor a = lora.a().value(), bm = lora.b().value();
            int r = lora.rank();
            product(n, gemm, in.segment(), inFeatures, a, r, loraDown.segment());
            kernels.elementwise().scale(n * r, lora.scale(), loraDown.segment(), 0, loraDown.segment(), 0);
            product(n, gemm, loraDown.segment(), r, bm, outFeatures, loraUp.segment());
            kernels.elementwise().add(n * outFeatures, out, 0, 1, loraUp.segment(), 0, 1, out, 0);
        }
        if (layer.bias() != null) addBias(n, outFeatures, out, layer.bias().value());
        if (layer.adapter() instanceof BottleneckAdapter adapter) {
            // out += W_up·silu(W_down·out + b_down) + b_up, the adapter's forward on the layer's output
            int size = adapter.size();
            product(n, gemm, out, outFeatures, adapter.downWeight().value(), size, adapterDown.segment());
            addBias(n, size, adapterDown.segment(), adapter.downBias().value());
            kernels.elementwise().silu(n * size, adapterDown.segment(), 0, adapterDown.segment(), 0);
            product(n, gemm, adapterDown.segment(), size, adapter.upWeight().value(), outFeatures, adapterUp.segment());
            addBias(n, outFeatures, adapterUp.segment(), adapter.upBias().value());
            kernels.elementwise().add(n * outFeatures, out, 0, 1, adapterUp.segment(), 0, 1, out, 0);
        }
    }

    /** Adds b [width] to each of the n rows of out [n × width]. */
    private void addBias(int n, int width, MemorySegment out, Tensor b) {
        for (int i = 0; i < n; i++) {
            kernels.elementwise().add(width, out, (long) i * width, 1, b.segment(), b.offset(), 1, out, (long) i * width);
        }
    }

    /** out[n × outFeatures] = in[n × inFeatures]·Wᵀ, W stored [outFeatures × inFeatures]: one GEMM, or matvecs. */
    private void product(int n, boolean gemm, MemorySegment in, int inFeatures, Tensor w, int outFeatures, MemorySegment out) {
        Gemm g = kernels.gemm();
        if (gemm) {
            g.gemm(Layout.ABT, n, outFeatures, inFeatures, 1f, in, 0, inFeatures,
                    w.segment(), w.offset(), inFeatures, w.dtype(), 0f, out, 0, outFeatures);
        } else {
            g.matvecs(n, outFeatures, inFeatures, w.segment(), w.offset(), inFeatures, w.dtype(), in, 0, out, 0);
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
