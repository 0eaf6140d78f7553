package dev.retort.cli;

import dev.retort.distill.MemoryPlan;
import dev.retort.models.Evaluation;
import dev.retort.models.InputFiles;
import dev.retort.models.Llm;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort eval --model DIR --data FILE}: mean next-token cross-entropy and perplexity of a text file,
 * tokenized with BOS and cut into consecutive windows of the model's context length. Last line:
 * {@code tokens=N ce=X ppl=Y} (N = predicted tokens). {@code --adapter DIR} merges a PEFT LoRA adapter into
 * the model first, giving the numbers of the merged export, or attaches the bottleneck adapters there.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Cross-entropy and perplexity of a model on a text file.")
final class EvalCommand implements Callable<Integer> {
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

    @Override
    public Integer call() throws IOException {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        String text = InputFiles.readUtf8(data, InputFiles.DATA_BYTES,
                (f, problem) -> new IllegalArgumentException("--data " + f + ": " + problem));
        long rows = seqLen != null ? seqLen : dev.retort.models.hf.LlamaConfig.read(model).maxPositionEmbeddings();
        MemoryPlan.inference(model, rows, 0, rows).requireWithin(MemoryPlan.limit(memoryLimit),
                "give a smaller --seq-len or raise --memory-limit");
        try (Llm llm = Llm.open(model, adapter)) {
            int[] tokens = llm.tokenizer().encode(text);
            int context = llm.config().maxPositionEmbeddings();
            int window = seqLen != null ? seqLen : context;
            if (window < 1 || window > context) {
                throw new IllegalArgumentException("--seq-len must be in [1, " + context + "], got " + window);
            }
            if (tokens.length < 2) throw new IllegalArgumentException(data + ": fewer than two tokens, nothing to predict");
            Evaluation result = llm.evaluate(tokens, window);
            System.out.printf(Locale.ROOT, "tokens=%d ce=%.4f ppl=%.3f%n", result.tokens(), result.crossEntropy(), result.perplexity());
        }
        return 0;
    }
}
