package dev.retort.cli;

import dev.retort.distill.bench.DecodeBench;
import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort bench decode --model DIR} (or a random model of a given shape): parse, run {@link DecodeBench},
 * print the median time per token, the weight bytes each token reads and the bandwidth that implies. Last line:
 * "N tokens/s".
 */
@Command(name = "decode", mixinStandardHelpOptions = true, description = "Measure decode tokens/s (KV-cache generation); prints tokens/s last.")
final class BenchDecodeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Model directory or GGUF file; without it a random model of the --dim/--layers/... shape.")
    Path model;
    @Option(names = "--dtype", description = "Weight type of the random model, or to convert --model to: f32, bf16, f16 or q8_0 (a GGUF file; default: as stored; random: f32).")
    String dtype;
    @Option(names = "--untied", description = "Random model with a separate LM head.")
    boolean untied;
    @Option(names = "--tokens", defaultValue = "64", description = "Tokens to decode (default ${DEFAULT-VALUE}).")
    int tokens;
    @Option(names = "--sequences", defaultValue = "1", description = "Sequences decoded together, one token each per step (default ${DEFAULT-VALUE}).")
    int sequences;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Option(names = "--no-mmap", description = "Copy the weights into memory instead of reading them from the memory-mapped file, as generate --no-mmap does.")
    boolean noMmap;
    @Mixin
    ModelShapeOptions shape;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        DType type = dtype == null ? null : switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            case "q8_0" -> DType.Q8_0;
            default -> throw new IllegalArgumentException("--dtype must be f32, bf16, f16 or q8_0, got '" + dtype + "'");
        };
        DecodeBench.Result r = DecodeBench.run(model, type,
                model == null ? shape.config(shape.layers, !untied, Math.max(shape.seq, tokens + 1)) : null, tokens, sequences, noMmap);
        double step = r.secondsPerStep();
        System.out.printf(Locale.ROOT, "decode %s: %d layers, dim %d, vocab %d, weights %s%s, %d threads, batch %d: %.2f ms/step, "
                        + "%.0f MB of weights per step, %.1f GB/s%n", model == null ? "random model" : model, r.config().numHiddenLayers(),
                r.config().hiddenSize(), r.config().vocabSize(), r.weights(), noMmap ? " copied into memory" : " mapped", ThreadPool.shared().threads(), r.batch(), step * 1e3,
                r.bytesPerToken() / 1e6, r.bytesPerToken() / step / 1e9);
        System.out.printf(Locale.ROOT, "%.1f tokens/s%n", r.tokensPerSecond());
        return 0;
    }
}
