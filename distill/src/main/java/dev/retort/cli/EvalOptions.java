package dev.retort.cli;

import dev.retort.distill.MemoryPlan;
import dev.retort.models.InputFiles;
import dev.retort.models.Llm;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The flags of {@code retort eval}, and of the same job on Spark in the spark module, with the steps both take
 * before scoring: the text read, the memory planned, the text tokenized and the window checked.
 */
public final class EvalOptions {
    /** What to change when a run is planned above the limit. */
    public static final String MEMORY_ADVICE = "give a smaller --seq-len or raise --memory-limit";

    @Option(names = "--model", required = true, description = "Model directory or GGUF file.")
    Path model;

    @Option(names = "--adapter", description = "Adapter directory (adapter_config.json, adapter_model.safetensors): a PEFT LoRA adapter, merged into the model on load, "
            + "or Retort bottleneck adapters, applied as modules.")
    Path adapter;

    @Option(names = "--data", required = true, description = "UTF-8 text file.")
    Path data;

    @Option(names = "--seq-len", description = "Window length (default: the model's max_position_embeddings).")
    Integer seqLen;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    public Path model() {
        return model;
    }

    /** The adapter, or null. */
    public Path adapter() {
        return adapter;
    }

    /** --memory-limit, or null. */
    public String memoryLimit() {
        return memoryLimit;
    }

    /** Applies --threads to this process. */
    public void applyThreads() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
    }

    /** The text of --data, refused in one line naming the file when it cannot be read as UTF-8. */
    public String text() throws IOException {
        return InputFiles.readUtf8(data, InputFiles.DATA_BYTES, (f, problem) -> new IllegalArgumentException("--data " + f + ": " + problem));
    }

    /** The plan of one process scoring one window: the model's weights and a window's activations. */
    public MemoryPlan memoryPlan() throws IOException {
        long rows = seqLen != null ? seqLen : dev.retort.models.hf.LlamaConfig.read(model).maxPositionEmbeddings();
        return MemoryPlan.inference(model, rows, 0, rows);
    }

    /** {@code text} as {@code llm} tokenizes it, refused when it holds nothing to predict. */
    public int[] tokens(Llm llm, String text) {
        int[] tokens = llm.tokenizer().encode(text);
        if (tokens.length < 2) throw new IllegalArgumentException(data + ": fewer than two tokens, nothing to predict");
        return tokens;
    }

    /** The window, --seq-len or the model's context, checked against the context. */
    public int window(Llm llm) {
        int context = llm.config().maxPositionEmbeddings();
        int window = seqLen != null ? seqLen : context;
        if (window < 1 || window > context) throw new IllegalArgumentException("--seq-len must be in [1, " + context + "], got " + window);
        return window;
    }
}
