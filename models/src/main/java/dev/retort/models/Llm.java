package dev.retort.models;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.models.adapter.BottleneckFiles;
import dev.retort.models.adapter.BottleneckModel;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.LoadedWeights;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.Generator;
import dev.retort.models.llama.LlamaInference;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.llama.TokenPruning;
import dev.retort.models.llama.TokenPruningFiles;
import dev.retort.models.lora.LoraModel;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.TokenizerFileException;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A Hugging Face Llama model directory opened for use from Java: its config, its weights (memory-mapped in
 * place, single-file or sharded), its tokenizer, and the memory that holds what is not mapped. One call opens
 * everything; {@link #close()} releases it all.
 *
 * <pre>{@code
 * try (Llm llm = Llm.open(Path.of("stories260K"))) {
 *     String text = llm.generate("Once upon a time", Sampling.greedy(40));
 *     double ce = llm.loss("Once upon a time, there was a girl.");   // nats per token
 * }
 * }</pre>
 *
 * <p>A PEFT LoRA adapter directory given to {@link #open(Path, Path)} is merged on open: every adapted layer
 * gets an F32 copy W + scale·B·A (computed as {@code retort export} computes it, so the numbers are those of the
 * merged export in F32); the other weights stay mapped in their stored dtype. Generation, logits and loss all
 * see the merged weights. A Retort bottleneck adapter directory ({@link BottleneckFiles}, {@code adapter_type}
 * {@code retort_bottleneck}) cannot be merged and is attached as modules instead, which every path applies.
 *
 * <p>Token pruning ({@link TokenPruning}) saved with the model ({@link TokenPruningFiles}, in the adapter directory
 * or the model directory) is attached on open: {@link #generate} and {@link #logits} prune each prompt in the KV-cache
 * path and {@link #continuationLogits} prunes the prefix; {@link #allLogits}, {@link #loss} and {@link #evaluate}
 * measure the unpruned model (plain text has no prompt to prune).
 *
 * <p>Two paths compute over the same weights: {@link #generate} and {@link #logits} run the KV-cache inference
 * ({@link LlamaInference}); {@link #allLogits} and {@link #loss} run the autograd model without gradients
 * ({@link LlamaModel}), as evaluation does. They agree to float rounding. Not thread-safe: use one instance per
 * thread, or guard it.
 */
public final class Llm implements AutoCloseable {
    private final Path directory;
    private final Path adapter;
    private final LlamaConfig config;
    private final Tokenizer tokenizer;
    private final ModelWeights weights;
    private final Arena arena;
    private final LlamaModel model;
    private final BottleneckModel bottleneck;   // attached bottleneck adapters, or null
    private final BufferPool pool = new BufferPool();
    private boolean closed;

    private Llm(Path directory, Path adapter, LlamaConfig config, Tokenizer tokenizer, ModelWeights weights, Arena arena,
                LlamaModel model, BottleneckModel bottleneck) {
        this.directory = directory;
        this.adapter = adapter;
        this.config = config;
        this.tokenizer = tokenizer;
        this.weights = weights;
        this.arena = arena;
        this.model = model;
        this.bottleneck = bottleneck;
    }

    /** Opens the model directory {@code modelDir} (config.json, weights, tokenizer), or a Llama GGUF file. */
    public static Llm open(Path modelDir) {
        return open(modelDir, null);
    }

    /**
     * Opens {@code modelDir} and merges the PEFT LoRA adapter in {@code adapterDirOrNull} (adapter_config.json,
     * adapter_model.safetensors) into it, or attaches the bottleneck adapters there; null opens the base model. Bad files fail with a
     * {@link ModelFileException} (or an {@link UncheckedIOException} for the tokenizer) whose one-line message
     * starts with the file at fault.
     */
    public static Llm open(Path modelDir, Path adapterDirOrNull) {
        return open(modelDir, adapterDirOrNull, false);
    }

    /**
     * As {@link #open(Path, Path)}; with {@code copyWeights} the weights are copied into memory rather than read
     * from the file mapping ({@link LoadedWeights}: faster decoding, the model's size in RAM).
     */
    public static Llm open(Path modelDir, Path adapterDirOrNull, boolean copyWeights) {
        requireModelDirectory(modelDir);
        if (adapterDirOrNull != null) {
            requireDirectory(adapterDirOrNull, "an adapter directory, PEFT LoRA or Retort bottleneck (" + PeftAdapter.CONFIG_FILE + ", "
                    + PeftAdapter.WEIGHTS_FILE + ")");
        }
        Tokenizer tokenizer = loadTokenizer(modelDir);
        LlamaConfig config = LlamaConfig.read(modelDir);
        if (tokenizer.vocabSize() > config.vocabSize()) {
            throw new ModelFileException(Files.isDirectory(modelDir) ? modelDir.resolve(LlamaConfig.FILE_NAME) : modelDir, "vocab_size is " + config.vocabSize()
                    + " but the tokenizer has " + tokenizer.vocabSize() + " tokens; expected at least that many");
        }
        ModelWeights weights = ModelWeights.open(modelDir, true);   // frozen: a GGUF file's Q8_0 read in place by the int8 kernels
        if (copyWeights) weights = new LoadedWeights(weights);
        Arena arena = Arena.ofShared();
        try {
            LlamaModel model = LlamaModel.load(config, weights, arena, false);
            BottleneckModel bottleneck = null;
            if (adapterDirOrNull != null && BottleneckFiles.holdsBottleneck(adapterDirOrNull)) {
                bottleneck = BottleneckFiles.load(adapterDirOrNull, model);   // kept as modules: no merge exists
            } else if (adapterDirOrNull != null) {
                mergeAdapter(model, adapterDirOrNull, arena);
            }
            // token pruning saved with the student: beside an adapter first (an adapted student), else in the model directory
            Path pruningDir = TokenPruningFiles.present(adapterDirOrNull) ? adapterDirOrNull
                    : TokenPruningFiles.present(modelDir) ? modelDir : null;
            if (pruningDir != null) model.setPruning(TokenPruningFiles.load(pruningDir, config.hiddenSize(), arena));
            return new Llm(modelDir, adapterDirOrNull, config, tokenizer, weights, arena, model, bottleneck);
        } catch (RuntimeException | Error e) {
            arena.close();
            weights.close();
            throw e;
        }
    }

    /**
     * Reads the adapter, checked against the model's layers, and replaces each adapted layer's weight by the F32
     * merged copy W + scale·B·A in {@code arena}; A and B are freed afterwards.
     */
    private static void mergeAdapter(LlamaModel model, Path adapterDir, Arena arena) {
        LoraModel lora = PeftAdapter.load(adapterDir, model);
        Map<String, Tensor> merged = new LinkedHashMap<>();
        try {
            for (String layer : lora.adapters().keySet()) merged.put(layer, lora.mergedWeight(layer, DType.F32, arena));
        } finally {
            lora.detach();   // unfreezes nothing (the model was loaded frozen), removes the branches
        }
        Map<String, Parameter> parameters = model.namedParameters();
        for (Map.Entry<String, Tensor> e : merged.entrySet()) parameters.get(e.getKey() + ".weight").setValue(e.getValue());
    }

    /**
     * Refuses a path that is not a directory or a GGUF file (known by its magic, whatever its name), in the words
     * {@link #open} uses (a memory plan checks it first).
     */
    public static void requireModelDirectory(Path modelDir) {
        if (dev.retort.models.gguf.GgufFile.isGguf(modelDir)) return;   // config, weights and tokenizer in one file
        requireDirectory(modelDir, "a Hugging Face model directory (config.json, model.safetensors or "
                + ModelWeights.INDEX_FILE + ", tokenizer.json or tokenizer.model) or a GGUF file");
    }

    private static void requireDirectory(Path dir, String expected) {
        if (!Files.isDirectory(dir)) {
            throw new ModelFileException(dir, "is not a directory" + (Files.exists(dir) ? "" : " (it does not exist)")
                    + "; expected " + expected);
        }
    }

    private static Tokenizer loadTokenizer(Path modelDir) {
        try {
            return Tokenizers.load(modelDir);
        } catch (TokenizerFileException e) {
            throw new UncheckedIOException(e.getMessage(), e);   // already "FILE: problem"
        } catch (IOException e) {
            throw new UncheckedIOException(modelDir + ": cannot read the tokenizer: " + e, e);
        }
    }

    // ---- generation ------------------------------------------------------------------------------------

    /** The text generated after {@code prompt} (not including it); an empty prompt starts from BOS. */
    public String generate(String prompt, Sampling sampling) {
        return generate(prompt, sampling, piece -> { }).text();
    }

    /**
     * Generates after {@code prompt}, calling {@code onText} with each piece of text as soon as it is complete;
     * the result also holds the token ids, whether it stopped at end-of-sequence, and the timing.
     */
    public Generator.Result generate(String prompt, Sampling sampling, Consumer<String> onText) {
        checkOpen();
        Generator generator = new Generator(model, tokenizer);
        return generator.generate(List.of(sampling.request(generator.promptIds(prompt), sampling.sampler())), 1,
                (index, piece) -> onText.accept(piece)).getFirst();
    }

    /**
     * Generates after each prompt, {@code batchSize} sequences at a time (one pass over the weights per step for
     * all of them); prompt i samples with {@link Sampling#sampler(long) sampler(i)}, so its text is the same for
     * any batch size. {@code onText} gets (prompt index, piece) as text completes.
     */
    public List<Generator.Result> generate(List<String> prompts, Sampling sampling, int batchSize, Generator.Listener onText) {
        return generate(prompts, sampling, batchSize, 0, onText);
    }

    /**
     * As {@link #generate(List, Sampling, int, Generator.Listener)} for prompts that continue a longer list: prompt i
     * samples with {@code sampler(firstIndex + i)}, so a list generated in parts writes what it would in one go.
     */
    public List<Generator.Result> generate(List<String> prompts, Sampling sampling, int batchSize, long firstIndex,
                                           Generator.Listener onText) {
        checkOpen();
        Generator generator = new Generator(model, tokenizer);
        List<Generator.Request> requests = new java.util.ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            requests.add(sampling.request(generator.promptIds(prompts.get(i)), sampling.sampler(firstIndex + i)));
        }
        return generator.generate(requests, batchSize, onText);
    }

    // ---- logits ----------------------------------------------------------------------------------------

    /** The logits [V] after the last of {@code tokens} [T]: what {@link #generate} samples the next token from. */
    public float[] logits(int[] tokens) {
        checkTokens(tokens);
        try (LlamaInference inference = new LlamaInference(model, tokens.length, 64)) {
            return inference.forward(tokens).toFloatArray();
        }
    }

    /** The logits of every position: [T][V], row t predicting the token after {@code tokens[t]}. */
    public float[][] allLogits(int[] tokens) {
        checkTokens(tokens);
        int vocab = config.vocabSize();
        float[] flat;
        try (Graph g = Graph.noGrad(pool)) {
            flat = model.logits(g, tokens, 1, tokens.length).value().toFloatArray();   // [1 × T × V]
        }
        float[][] rows = new float[tokens.length][];
        for (int t = 0; t < rows.length; t++) rows[t] = Arrays.copyOfRange(flat, t * vocab, (t + 1) * vocab);
        return rows;
    }

    /**
     * The logits [T − promptLength + 1][V] that predict tokens promptLength..T−1 and the one after, rows for positions
     * promptLength − 1 .. T − 1: with token pruning the first promptLength − 1 tokens are pruned (the hard top-k, as
     * {@link #generate} prunes a prompt), otherwise the rows of {@link #allLogits}.
     */
    public float[][] continuationLogits(int[] tokens, int promptLength) {
        checkTokens(tokens);
        if (promptLength < 1 || promptLength > tokens.length) {
            throw new IllegalArgumentException("prompt length " + promptLength + " outside [1, " + tokens.length + "]");
        }
        if (model.pruning() == null) return Arrays.copyOfRange(allLogits(tokens), promptLength - 1, tokens.length);
        int vocab = config.vocabSize();
        float[] flat;
        try (Graph g = Graph.noGrad(pool)) {
            LlamaModel.Pruned p = model.pruned(g, tokens, new int[] {promptLength - 1}, 1, tokens.length, model.pruning().inferenceStep());
            flat = dev.retort.autograd.ops.MatMul.linear(p.hidden(), model.lmHead()).value().toFloatArray();   // [1 × S × V]
        }
        int rows = tokens.length - promptLength + 1, s = flat.length / vocab;
        float[][] out = new float[rows][];
        for (int i = 0; i < rows; i++) out[i] = Arrays.copyOfRange(flat, (s - rows + i) * vocab, (s - rows + i + 1) * vocab);
        return out;
    }

    // ---- loss ------------------------------------------------------------------------------------------

    /** Mean next-token cross-entropy (nats) of {@code text}, tokenized as {@link #tokenizer()} does by default. */
    public double loss(String text) {
        checkOpen();
        return loss(tokenizer.encode(text));
    }

    /** Mean next-token cross-entropy (nats) of {@code tokens}, in windows of the model's context length. */
    public double loss(int[] tokens) {
        return evaluate(tokens, config.maxPositionEmbeddings()).crossEntropy();
    }

    /**
     * Next-token cross-entropy of {@code tokens} cut into consecutive windows of {@code window} predictions:
     * window i feeds tokens [i·w, i·w + n) and predicts [i·w + 1, i·w + n], so every token but the first is
     * predicted once (with context from its own window only). This is {@code retort eval}'s measure.
     */
    public Evaluation evaluate(int[] tokens, int window) {
        checkOpen();
        if (window < 1 || window > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("window must be in [1, " + config.maxPositionEmbeddings()
                    + "] (max_position_embeddings), got " + window);
        }
        if (tokens.length < 2) throw new IllegalArgumentException("need at least two tokens to predict one, got " + tokens.length);
        checkIds(tokens);
        List<int[]> windows = Evaluation.windows(tokens, window);
        float[] losses = new float[windows.size()];
        for (int i = 0; i < losses.length; i++) losses[i] = Evaluation.windowLoss(model, pool, windows.get(i));
        return Evaluation.of(windows, losses);
    }

    // ---- parts -----------------------------------------------------------------------------------------

    /** The model directory this was opened from. */
    public Path directory() { return directory; }

    /** The adapter directory opened with the model (merged, or attached when bottleneck adapters), if any. */
    public Optional<Path> adapter() { return Optional.ofNullable(adapter); }

    public LlamaConfig config() { return config; }

    public Tokenizer tokenizer() { return tokenizer; }

    /** The model itself (frozen; LoRA-adapted layers merged, bottleneck adapters attached), for what this class does not offer. Valid until close. */
    public LlamaModel model() {
        checkOpen();
        return model;
    }

    /** Unmaps the weights and frees every buffer; the model and anything it handed out become invalid. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        pool.close();
        if (bottleneck != null) bottleneck.detach();
        arena.close();
        weights.close();
    }

    private void checkTokens(int[] tokens) {
        checkOpen();
        if (tokens.length == 0) throw new IllegalArgumentException("need at least one token");
        if (tokens.length > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException(tokens.length + " tokens exceed the model's context, max_position_embeddings "
                    + config.maxPositionEmbeddings());
        }
        checkIds(tokens);
    }

    private void checkIds(int[] tokens) {
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("token " + i + " is id " + tokens[i] + ", outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this model (" + directory + ") is closed");
    }
}
