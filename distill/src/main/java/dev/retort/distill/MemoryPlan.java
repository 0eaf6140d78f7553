package dev.retort.distill;

import dev.retort.distill.method.Method;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.train.ResourceUse;
import dev.retort.models.adapter.BottleneckConfig;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LayerSelection;
import dev.retort.models.llama.LlamaModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * A run's memory, estimated from the configs and file sizes before anything is loaded, so that a run that
 * cannot fit is refused up front with one line instead of being killed by the kernel half-way (native memory is
 * not bounded by the JVM's heap limit). Parts, in bytes:
 * <ul>
 *   <li>weights as stored: the teacher's files (memory-mapped, all read every step) and a student directory's;
 *       a student made of teacher layers shares the teacher's mapping;
 *   <li>trainable F32 copies with their gradient and two optimizer moments: 16 bytes a parameter (the student's
 *       own weights for kd and meta, LoRA matrices for neo, the teacher's weights for a full meta-update);
 *   <li>activations kept for backward, per token and student layer about 14·C + 6·H floats (C hidden width, H
 *       MLP width), plus the LM-head loss's chunk buffers (three of chunk × V floats) and a live teacher's
 *       forward pass;
 *   <li>for a model run without training ({@code eval}, {@code generate}, {@code cache-teacher}:
 *       {@link #inference}), the weights as stored, the RoPE tables, a decoder's F32 KV cache and one forward
 *       pass's activations and logits.
 * </ul>
 * It is an estimate — the buffer pool's measured peaks (bench/RESULTS.md) are within a factor of about 1.5 of
 * it — and errs on the side of refusing less: only a run estimated above the limit is refused.
 */
public record MemoryPlan(long weights, long trainable, long activations) {
    public long total() {
        return weights + trainable + activations;
    }

    /** The plan of a distill run of {@code method} with options {@code o}. */
    public static MemoryPlan of(DistillOptions o, Method method) {
        Path teacherDir = o.models().teacher();
        LlamaConfig teacher = LlamaConfig.read(teacherDir);
        LlamaConfig student;
        long weights = fileBytes(teacherDir, false);
        if (o.models().student() != null) {
            student = LlamaConfig.read(o.models().student());
            weights += fileBytes(o.models().student(), false);
        } else {
            student = LayerSelection.config(teacher, LayerSelection.parse(o.models().studentLayers(), teacher.numHiddenLayers()));
        }
        long trainable = 0;
        if (method.trainsStudentWeights(o)) trainable += 16 * parameters(student);
        else if (o.lora().bottleneck()) trainable += 16 * bottleneckParameters(student, o.lora().bottleneckConfig(0));
        else trainable += 16 * loraParameters(student, o.lora().size() == null ? LoraOptions.NEO_RANK : o.lora().size());
        if (method.trainsTeacherWeights(o)) trainable += 16 * parameters(teacher);

        long tokens = (long) o.training().batchSize() * o.data().seqLen();
        long c = student.hiddenSize(), h = student.intermediateSize(), v = student.vocabSize();
        long activations = 4 * tokens * student.numHiddenLayers() * (14 * c + 6 * h)
                + 4 * 3 * Math.min(LlamaModel.LOSS_CHUNK_ROWS, tokens) * v
                + 4 * v * c;                                                  // the head's gradient
        if (o.models().teacherCache() == null) {
            activations += 4 * tokens * (6L * teacher.hiddenSize() + 3L * teacher.intermediateSize()) + ropeBytes(teacher);
        }
        activations += ropeBytes(student);
        return new MemoryPlan(weights, trainable, activations);
    }

    /** What a distill run can change to need less. */
    public static final String DISTILL_ADVICE = "lower --batch-size or --seq-len, use --teacher-cache or a smaller student, "
            + "or raise --memory-limit";

    /**
     * The plan of running the model in {@code modelDir} without training: its weights as stored, its RoPE tables,
     * and, all in F32,
     *
     * @param tokens the tokens of the largest forward pass (a batch × its sequence, or a prompt)
     * @param cachePositions positions of a decoder's KV cache, [layers × positions × kv heads × head dim] for keys
     *     and again for values (0: no cache)
     * @param logitRows rows of logits held at once, [rows × V]
     */
    public static MemoryPlan inference(Path modelDir, long tokens, long cachePositions, long logitRows) {
        return inference(modelDir, tokens, 1, cachePositions, logitRows);
    }

    /**
     * As {@link #inference(Path, long, long, long)} for {@code sequences} sequences generated together, each with a
     * KV cache of {@code positionsPerSequence} positions (capped at the model's context, where a cache stops).
     */
    public static MemoryPlan inference(Path modelDir, long tokens, long sequences, long positionsPerSequence, long logitRows) {
        dev.retort.models.Llm.requireModelDirectory(modelDir);
        LlamaConfig c = LlamaConfig.read(modelDir);
        long positions = sequences * Math.min(positionsPerSequence, c.maxPositionEmbeddings());
        long kvCache = 2 * 4 * c.numHiddenLayers() * positions * c.numKeyValueHeads() * (long) c.headDim();
        long activations = 4 * tokens * (6L * c.hiddenSize() + 3L * c.intermediateSize()) + 4 * logitRows * c.vocabSize();
        return new MemoryPlan(fileBytes(modelDir, true), 0, ropeBytes(c) + kvCache + activations);
    }

    /** What to change when a generation's plan is refused. */
    public static final String GENERATION_ADVICE = "lower --batch or --max-tokens, or raise --memory-limit";

    /**
     * The plan of generating after {@code prompts} (text), {@code sequences} of them together, up to {@code newTokens}
     * each: every sequence's KV cache holds its prompt and response, and the largest pass is bounded by the longest
     * prompt or one decode step of every sequence. A prompt's tokens are bounded by its UTF-8 bytes (a token is at
     * least a byte) plus BOS and EOS.
     */
    public static MemoryPlan generation(Path modelDir, java.util.Collection<String> prompts, long sequences, long newTokens) {
        long longest = prompts.stream().mapToLong(t -> t.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 2L).max().orElse(2);
        return inference(modelDir, Math.max(longest, sequences), sequences, longest + newTokens, sequences);
    }

    /** {@code --memory-limit} as given (null: none) in bytes, ≤ 0 for none, as {@link #requireWithin(long, String)} takes it. */
    public static long limit(String memoryLimit) {
        return memoryLimit == null ? 0 : parseBytes(memoryLimit);
    }

    /**
     * Refuses a plan above {@code memoryLimit} (--memory-limit in bytes; ≤ 0: the memory available now) in one
     * line naming the estimate, the limit and {@code advice}, what to change.
     */
    public void requireWithin(long memoryLimit, String advice) {
        if (memoryLimit > 0) requireWithin(memoryLimit, "--memory-limit", advice);
        else requireWithin(availableBytes(), "the memory available now (MemAvailable)", advice);
    }

    /**
     * Refuses a plan above {@code limitBytes} (≤ 0: no limit) in one line naming the estimate, the limit, where
     * the limit comes from ({@code limitSource}, e.g. a flag or a setting) and {@code advice}, what to change.
     */
    public void requireWithin(long limitBytes, String limitSource, String advice) {
        if (limitBytes <= 0 || total() <= limitBytes) return;
        throw new IllegalArgumentException(String.format(Locale.ROOT, "this run needs about %s (weights %s, trainable "
                        + "copies with gradients and optimizer state %s, activations and caches %s) but %s is %s; %s",
                gb(total()), gb(weights), gb(trainable), gb(activations), limitSource, gb(limitBytes), advice));
    }

    /**
     * This plan run {@code passes} times at once in one process (threads of one Spark executor, say): the weights
     * are shared, the trainable state and activations are each pass's own.
     */
    public MemoryPlan concurrent(int passes) {
        if (passes < 1) throw new IllegalArgumentException("passes must be at least 1, got " + passes);
        return new MemoryPlan(weights, Math.multiplyExact(trainable, passes), Math.multiplyExact(activations, passes));
    }

    /** One line for the log. */
    public String describe() {
        return String.format(Locale.ROOT, "about %s (weights %s, trainable state %s, activations and caches %s)",
                gb(total()), gb(weights), gb(trainable), gb(activations));
    }

    /** The memory this machine has free now (MemAvailable), or -1 where /proc/meminfo is not there. */
    public static long availableBytes() {
        return ResourceUse.procKilobytes(Path.of("/proc/meminfo"), "MemAvailable:");
    }

    /** "8g", "512m", "100k" or a number of bytes, as --memory-limit takes it. */
    public static long parseBytes(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (t.endsWith("g") || t.endsWith("gb")) unit = 1L << 30;
        else if (t.endsWith("m") || t.endsWith("mb")) unit = 1L << 20;
        else if (t.endsWith("k") || t.endsWith("kb")) unit = 1L << 10;
        String number = t.replaceAll("[a-z]+$", "");
        try {
            double value = Double.parseDouble(number);
            if (!(value > 0) || Double.isInfinite(value)) throw new NumberFormatException();
            return (long) Math.min(Long.MAX_VALUE, value * unit);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--memory-limit must be a size such as 8g, 512m or a number of bytes, got '" + text + "'");
        }
    }

    /** The RoPE tables, cos and sin F32 [max positions × head dim / 2] each. */
    static long ropeBytes(LlamaConfig c) {
        return 4L * c.maxPositionEmbeddings() * c.headDim();
    }

    /** Parameters of a Llama of this shape. */
    static long parameters(LlamaConfig c) {
        long d = c.hiddenSize(), q = (long) c.numAttentionHeads() * c.headDim(), kv = (long) c.numKeyValueHeads() * c.headDim();
        long layer = d * q + 2 * d * kv + q * d + 3 * d * c.intermediateSize() + 2 * d;
        long embeddings = (long) c.vocabSize() * d * (c.tieWordEmbeddings() ? 1 : 2);
        return embeddings + c.numHiddenLayers() * layer + d;
    }

    /** LoRA A and B of rank r on all seven projections of every layer (an upper bound for fewer targets). */
    static long loraParameters(LlamaConfig c, int rank) {
        long d = c.hiddenSize(), q = (long) c.numAttentionHeads() * c.headDim(), kv = (long) c.numKeyValueHeads() * c.headDim();
        long h = c.intermediateSize();
        long perLayer = rank * ((d + q) + 2 * (d + kv) + (q + d) + 2 * (d + h) + (h + d));
        return c.numHiddenLayers() * perLayer;
    }

    /** W_down, b_down, W_up and b_up of every adapter: (2·C + 1)·size + C each, one or two per layer. */
    static long bottleneckParameters(LlamaConfig c, BottleneckConfig adapters) {
        long d = c.hiddenSize(), perAdapter = (2 * d + 1) * adapters.size() + d;
        int perLayer = (adapters.placement().attention() ? 1 : 0) + (adapters.placement().mlp() ? 1 : 0);
        return (long) c.numHiddenLayers() * perLayer * perAdapter;
    }

    /**
     * The weights' bytes once loaded: a directory's safetensors files (mapped as stored), or a GGUF file's tensors
     * with its quantised ones at 4 bytes a weight (dequantised to F32 on load), except Q8_0 for inference
     * ({@code q8InPlace}: the int8 kernels read it in place, 34 bytes per 32 weights).
     */
    private static long fileBytes(Path dir, boolean q8InPlace) {
        if (dev.retort.models.gguf.GgufFile.isGguf(dir)) return dev.retort.models.gguf.GgufModel.loadedBytes(dir, q8InPlace);
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot list the model's files: " + e.getMessage(), e);
        }
    }

    private static String gb(long bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.0f MB", bytes / (double) (1L << 20));
    }
}
