package dev.retort.cli;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import dev.retort.tensor.ThreadPool;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort generate --model DIR --prompt TEXT}: prints only the generated text (not the prompt), streamed
 * as it comes. {@code --temperature 0} is greedy and deterministic; an empty prompt starts from BOS.
 * {@code --adapter DIR} merges a PEFT LoRA adapter into the model first (as {@code retort export} would).
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text with a Hugging Face Llama model.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Model directory (config.json, model.safetensors, tokenizer).")
    Path model;

    @Option(names = "--adapter", description = "PEFT LoRA adapter directory merged into the model on load (adapter_config.json, adapter_model.safetensors).")
    Path adapter;

    @Option(names = "--prompt", defaultValue = "", description = "The prompt (default: empty, start from BOS).")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "256", description = "Most tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Nucleus sampling mass (default ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep only the k most likely tokens; 0 = all (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--seed", defaultValue = "42", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    @Option(names = "--stats", description = "Print tokens/s to standard error at the end.")
    boolean stats;

    @Override
    public Integer call() {
        if (maxTokens < 0) throw new IllegalArgumentException("--max-tokens must be >= 0, got " + maxTokens);
        if (threads != null) ThreadPool.setSharedThreads(threads);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Sampling sampling = new Sampling(maxTokens, temperature, topK, topP, seed);
        long promptTokens = prompt.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 2L;   // ≥ 1 byte a token, + BOS, EOS
        dev.retort.distill.MemoryPlan.inference(model, promptTokens, promptTokens + maxTokens, 1)
                .requireWithin(dev.retort.distill.MemoryPlan.limit(memoryLimit), "lower --max-tokens or raise --memory-limit");
        try (Llm llm = Llm.open(model, adapter)) {
            Generator.Result result = llm.generate(prompt, sampling, piece -> {
                out.print(piece);
                out.flush();
            });
            out.println();
            if (stats) {
                System.err.printf(Locale.ROOT, "%d prompt tokens, %d generated in %.2f s: %.1f tokens/s%n",
                        result.promptTokens(), result.generated().length, result.seconds(), result.tokensPerSecond());
            }
        }
        return 0;
    }
}
