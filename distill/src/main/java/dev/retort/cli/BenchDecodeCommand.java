package dev.retort.cli;

import dev.retort.models.export.ModelExporter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaInference;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.llama.Sampler;
import dev.retort.autograd.Parameter;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort bench decode --model DIR} (or a random model of a given shape): greedy decoding through the KV
 * cache, one token at a time; reports the median time per token, the weight bytes each token reads and the
 * bandwidth that implies. Last line: "N tokens/s".
 */
@Command(name = "decode", mixinStandardHelpOptions = true, description = "Measure decode tokens/s (KV-cache generation); prints tokens/s last.")
final class BenchDecodeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "Model directory; without it a random model of the --dim/--layers/... shape.")
    Path model;
    @Option(names = "--dtype", description = "Weight type of the random model, or to convert --model to: f32, bf16 or f16 (default: as stored; random: f32).")
    String dtype;
    @Option(names = "--untied", description = "Random model with a separate LM head.")
    boolean untied;
    @Option(names = "--tokens", defaultValue = "64", description = "Tokens to decode (default ${DEFAULT-VALUE}).")
    int tokens;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Mixin
    ModelShapeOptions shape;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        DType type = dtype == null ? null : switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            default -> throw new IllegalArgumentException("--dtype must be f32, bf16 or f16, got '" + dtype + "'");
        };
        Path dir = model;
        Path temp = null;
        try (Arena arena = Arena.ofShared()) {
            if (dir == null || type != null) {
                // A random model (or a converted copy) written as a checkpoint, then read in place like any other.
                temp = Files.createTempDirectory("retort-bench-decode");
                Path target = temp.resolve("model");
                if (dir == null) {
                    LlamaModel random = LlamaModel.random(shape.config(shape.layers, !untied, Math.max(shape.seq, tokens + 1)), arena, 0);
                    ModelExporter.save(random, null, temp, target, type == null ? DType.F32 : type);
                } else {
                    ModelExporter.export(dir, null, target, type);
                }
                dir = target;
            }
            LlamaConfig config = LlamaConfig.read(dir);
            try (ModelWeights weights = ModelWeights.open(dir)) {
                LlamaModel m = LlamaModel.load(config, weights, arena, false);
                int capacity = Math.min(config.maxPositionEmbeddings(), tokens + 1);
                long bytesPerToken = 0;
                for (Parameter p : m.namedParameters().values()) {
                    if (p.name().equals("model.embed_tokens.weight") && !config.tieWordEmbeddings()) continue;  // one row read
                    bytesPerToken += p.value().size() * p.value().dtype().bytes;
                }
                double[] times = new double[capacity - 1];
                for (int rep = 0; rep < 2; rep++) {   // the first pass warms the JIT up
                    try (LlamaInference inference = new LlamaInference(m, capacity, 16)) {
                        Tensor logits = inference.forward(new int[] {config.bosTokenId() == null ? 0 : config.bosTokenId()});
                        for (int i = 0; i < times.length; i++) {
                            int next = Sampler.greedy().sample(logits);
                            long t0 = System.nanoTime();
                            logits = inference.forward(new int[] {next});
                            times[i] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                }
                Arrays.sort(times);
                double median = times[times.length / 2];
                System.out.printf(Locale.ROOT, "decode %s: %d layers, dim %d, vocab %d, weights %s, %d threads: %.2f ms/token, "
                                + "%.0f MB of weights per token, %.1f GB/s%n", model == null ? "random model" : model, config.numHiddenLayers(),
                        config.hiddenSize(), config.vocabSize(), m.layers().get(0).qProj.weight().value().dtype(),
                        ThreadPool.shared().threads(), median * 1e3, bytesPerToken / 1e6, bytesPerToken / median / 1e9);
                System.out.printf(Locale.ROOT, "%.1f tokens/s%n", 1 / median);
            }
        } finally {
            if (temp != null) dev.retort.distill.method.Plan.freshDirectory(temp);
        }
        return 0;
    }
}
