package dev.retort.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.MemoryPlan;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort generate --model DIR --prompt TEXT}: prints only the generated text (not the prompt), streamed
 * as it comes. {@code --temperature 0} is greedy and deterministic; an empty prompt starts from BOS;
 * {@code --prompt -} reads the prompt from standard input. {@code --adapter DIR} merges a PEFT LoRA adapter into
 * the model first (as {@code retort export} would), or attaches the bottleneck adapters there (which no export can
 * merge).
 *
 * <p>Several {@code --prompt}s are generated together, {@code --batch} at a time, and printed when all are done,
 * one JSON line each: {@code {"prompt": …, "text": …, "finish": "eos"|"stop"|"length"}}. Prompt i samples with
 * its own seed derived from {@code --seed} and i, so its text does not depend on {@code --batch}.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text with a Hugging Face Llama model.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Model directory (config.json, model.safetensors, tokenizer) or GGUF file.")
    Path model;

    @Option(names = "--adapter", description = "Adapter directory (adapter_config.json, adapter_model.safetensors): a PEFT LoRA adapter, merged into the model on load, "
            + "or Retort bottleneck adapters, applied as modules.")
    Path adapter;

    @Option(names = "--prompt", description = "The prompt (default: empty, start from BOS); '-' reads it from standard input. "
            + "Repeat for several prompts, generated together.")
    List<String> prompts = new ArrayList<>();

    @Option(names = "--batch", defaultValue = "8", description = "Sequences generated together when there are several prompts (default ${DEFAULT-VALUE}).")
    int batch;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    @Option(names = "--stats", description = "Print tokens/s to standard error at the end.")
    boolean stats;

    @Option(names = "--no-mmap", description = "Copy the weights into memory instead of reading them from the memory-mapped file "
            + "(as llama.cpp's --no-mmap): faster decoding, at the cost of the model's size in RAM.")
    boolean noMmap;

    @Override
    public Integer call() throws IOException {
        if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
        if (threads != null) ThreadPool.setSharedThreads(threads);
        Sampling settings = sampling.settings();
        List<String> texts = new ArrayList<>();
        for (String p : prompts.isEmpty() ? List.of("") : prompts) {
            texts.add(p.equals("-") ? new String(System.in.readAllBytes(), StandardCharsets.UTF_8) : p);
        }
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        MemoryPlan.generation(model, texts, Math.min(batch, texts.size()), settings.maxTokens())
                .requireWithin(MemoryPlan.limit(memoryLimit), MemoryPlan.GENERATION_ADVICE);
        long start = System.nanoTime();
        List<Generator.Result> results;
        try (Llm llm = Llm.open(model, adapter, noMmap)) {
            if (texts.size() == 1) {
                results = List.of(llm.generate(texts.getFirst(), settings, piece -> {
                    out.print(piece);
                    out.flush();
                }));
                out.println();
            } else {
                results = llm.generate(texts, settings, batch, (index, piece) -> { });
                ObjectMapper json = new ObjectMapper();
                for (int i = 0; i < texts.size(); i++) {
                    ObjectNode line = json.createObjectNode().put("prompt", texts.get(i)).put("text", results.get(i).text())
                            .put("finish", finishName(results.get(i).finish()));
                    out.println(line.toString());
                }
            }
        }
        if (stats) {
            double seconds = (System.nanoTime() - start) / 1e9;
            long promptTokens = results.stream().mapToLong(Generator.Result::promptTokens).sum();
            long generated = results.stream().mapToLong(r -> r.generated().length).sum();
            System.err.printf(Locale.ROOT, "%d prompt tokens, %d generated in %.2f s: %.1f tokens/s%n",
                    promptTokens, generated, seconds, generated / Math.max(seconds, 1e-9));
        }
        return 0;
    }

    /** eos, stop or length: why a generation ended, as the JSON lines of several prompts say it. */
    static String finishName(Generator.Finish finish) {
        return switch (finish) {
            case EOS -> "eos";
            case STOP_STRING -> "stop";
            case LENGTH -> "length";
        };
    }
}
