package dev.retort.distill.bench;

import dev.retort.distill.OutputDirectory;
import dev.retort.autograd.Parameter;
import dev.retort.distill.method.Plan;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.models.export.GgufExporter;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.gguf.GgufFile;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.LoadedWeights;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaInference;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.llama.Sampler;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code retort bench decode}: greedy decoding through the KV cache, one token per sequence per step (one sequence,
 * or {@code batch} decoded together), of a model directory
 * (read in place, optionally converted to another weight type first) or of a random model of a given shape
 * written as a checkpoint and read back like any other; Q8_0 is written as a GGUF file (the only format holding
 * it) and read back with its Q8_0 weights in place, as {@code retort generate} reads one. Reports the median time per token and the weight bytes
 * each token reads, whose ratio is the memory bandwidth decoding reaches.
 */
public final class DecodeBench {
    private DecodeBench() {}

    /** One measured run: {@code batch} sequences decoded together, each step taking {@code secondsPerStep}. */
    public record Result(LlamaConfig config, DType weights, int batch, double secondsPerStep, long bytesPerToken) {
        /** Tokens per second over all the sequences. */
        public double tokensPerSecond() {
            return batch / secondsPerStep;
        }
    }

    /**
     * @param model       a model directory, or null for a random model of {@code randomShape}
     * @param type        the weight type to convert to (random: the type to write; Q8_0: a GGUF file), or null for as
     *                    stored (random: F32)
     * @param tokens      tokens to decode after the first
     * @param copyWeights copy the weights into memory rather than read the file mapping ({@link LoadedWeights})
     */
    public static Result run(Path model, DType type, LlamaConfig randomShape, int tokens, int batch, boolean copyWeights)
            throws IOException {
        if (batch < 1) throw new IllegalArgumentException("--sequences must be at least 1, got " + batch);
        Path dir = model;
        Path temp = null;
        try (Arena arena = Arena.ofShared()) {
            if (type == DType.Q8_0) {
                temp = Files.createTempDirectory("retort-bench-decode");
                dir = q8Gguf(dir, randomShape, temp, arena);
            } else if (dir == null || type != null) {
                temp = Files.createTempDirectory("retort-bench-decode");
                Path target = temp.resolve("model");
                if (dir == null) {
                    ModelExporter.save(LlamaModel.random(randomShape, arena, 0), null, temp, target, type == null ? DType.F32 : type);
                } else {
                    ModelExporter.export(dir, null, target, type);
                }
                dir = target;
            }
            LlamaConfig config = LlamaConfig.read(dir);
            ModelWeights opened = ModelWeights.open(dir, true);   // as generate opens it: Q8_0 in place
            try (ModelWeights weights = copyWeights ? new LoadedWeights(opened) : opened) {
                LlamaModel m = LlamaModel.load(config, weights, arena, false);
                int capacity = Math.min(config.maxPositionEmbeddings(), tokens + 1);
                long bytesPerToken = 0;
                for (Parameter p : m.namedParameters().values()) {
                    if (p.name().equals("model.embed_tokens.weight") && !config.tieWordEmbeddings()) continue;  // one row read
                    bytesPerToken += p.value().dtype().byteSize(p.value().size());
                }
                double[] times = new double[capacity - 1];
                int bos = config.bosTokenId() == null ? 0 : config.bosTokenId();
                for (int rep = 0; rep < 2; rep++) {   // the first pass warms the JIT up
                    if (batch == 1) {   // one sequence: the plain single-token path
                        try (LlamaInference inference = new LlamaInference(m, capacity, 16)) {
                            Tensor logits = inference.forward(new int[] {bos});
                            for (int i = 0; i < times.length; i++) {
                                int next = Sampler.greedy().sample(logits);
                                long t0 = System.nanoTime();
                                logits = inference.forward(new int[] {next});
                                times[i] = (System.nanoTime() - t0) / 1e9;
                            }
                        }
                        continue;
                    }
                    // B sequences, each started from a different token so they do not write the same text
                    try (LlamaInference inference = new LlamaInference(m, batch, capacity, 16)) {
                        int[] slots = new int[batch], next = new int[batch];
                        for (int s = 0; s < batch; s++) {
                            slots[s] = s;
                            inference.forward(s, new int[] {(bos + s) % config.vocabSize()});
                        }
                        for (int i = 0; i < times.length; i++) {
                            for (int s = 0; s < batch; s++) next[s] = Sampler.greedy().sample(inference.logits(s));
                            long t0 = System.nanoTime();
                            inference.decode(slots, next);
                            times[i] = (System.nanoTime() - t0) / 1e9;
                        }
                    }
                }
                return new Result(config, m.layers().get(0).qProj.weight().value().dtype(), batch, Measure.median(times), bytesPerToken);
            }
        } finally {
            if (temp != null) {
                Files.deleteIfExists(temp.resolve(Q8_FILE));   // not a file an output directory holds, so fresh() keeps out
                OutputDirectory.fresh(temp);
            }
        }
    }

    private static final String Q8_FILE = "model-q8_0.gguf";

    /**
     * The model as a Q8_0 GGUF file in {@code temp}, as {@code retort export --format gguf --dtype q8_0} writes
     * it: the model directory's, or the random model's with a small trained tokenizer (decoding never reads it).
     */
    private static Path q8Gguf(Path model, LlamaConfig randomShape, Path temp, Arena arena) throws IOException {
        Path file = temp.resolve(Q8_FILE);
        if (model == null) {
            Path tokenizer = Files.createDirectory(temp.resolve("tokenizer"));
            BpeTrainer.train("once upon a time there was a random model", 300, tokenizer);
            GgufExporter.save(LlamaModel.random(randomShape, arena, 0), null, tokenizer, file, GgufExporter.FileType.Q8_0);
        } else if (GgufFile.isGguf(model)) {
            throw new IllegalArgumentException("--dtype q8_0 converts a model directory; " + model
                    + " is a GGUF file already: omit --dtype to decode it as stored");
        } else {
            GgufExporter.export(model, null, file, GgufExporter.FileType.Q8_0);
        }
        return file;
    }
}
