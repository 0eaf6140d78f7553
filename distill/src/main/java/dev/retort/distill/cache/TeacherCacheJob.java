package dev.retort.distill.cache;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.distill.MemoryPlan;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Llm;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.IntConsumer;
import java.util.function.IntFunction;

/**
 * {@code retort cache-teacher} as a job: runs the frozen teacher once over a data file, packed exactly as
 * {@code retort distill} packs it, and stores per token its top-k logits and the log-sum-exp of the rest at the
 * KD temperature ({@link TeacherCacheWriter}), so that distillation can later run without the teacher in memory.
 */
public final class TeacherCacheJob {
    private TeacherCacheJob() {}

    /**
     * @param batchSize sequences per teacher pass
     * @param temperature the KD temperature the rest log-sum-exp is computed at (a run must use the same)
     */
    public record Options(Path teacher, Path data, int seqLen, int topK, float temperature, int batchSize, Path out) {
        public Options {
            if (topK < 1) throw new IllegalArgumentException("--top-k must be at least 1, got " + topK);
            if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
            if (seqLen < 2) throw new IllegalArgumentException("--seq-len must be at least 2, got " + seqLen);
        }
    }

    /** What was cached. */
    public record Result(long sequences, long tokens, double seconds) {
        /** The command's last line: what was cached, how, how long it took and where it is. */
        public String summary(Options o) {
            return String.format(Locale.ROOT, "cached %d sequences (%d tokens, top-%d at T=%.2f) in %.1f s: %s",
                    sequences, tokens, o.topK(), o.temperature(), seconds, o.out());
        }
    }

    /** What a run refused by its memory plan can change. */
    public static final String MEMORY_ADVICE = "lower --batch-size or --seq-len, or raise --memory-limit";

    /** The memory of one teacher pass: the teacher's weights and a batch's activations and logits [batch × seq × V]. */
    public static MemoryPlan memoryPlan(Options o) {
        long tokens = (long) o.batchSize() * o.seqLen();
        return MemoryPlan.inference(o.teacher(), tokens, 0, tokens);
    }

    /** Writes the cache; {@code progress} gets a running count (null: quiet). */
    public static Result run(Options o, PrintStream progress) throws IOException {
        try (Llm model = Llm.open(o.teacher()); BufferPool pool = new BufferPool()) {
            PackedData rows = pack(model, o);
            CacheDescription description = describe(model, o);
            long start = System.nanoTime();
            boolean terminal = System.console() != null;
            int[] lastDecile = {-1};
            try (TeacherCacheWriter writer = TeacherCacheWriter.create(o.out(), description)) {
                score(model.model(), pool, rows::inputs, rows.rows(), o.batchSize(), writer, done -> {
                    if (progress == null) return;
                    int decile = (int) (10L * done / rows.rows());
                    if (terminal) {
                        progress.printf(Locale.ROOT, "\rcached %d/%d sequences", done, rows.rows());
                    } else if (decile != lastDecile[0]) {   // a log file gets a plain line every 10%
                        progress.printf(Locale.ROOT, "cached %d/%d sequences%n", done, rows.rows());
                        lastDecile[0] = decile;
                    }
                });
                writer.finish();
                if (progress != null && terminal) progress.println();
                return new Result(writer.sequenceCount(), writer.tokenCount(), (System.nanoTime() - start) / 1e9);
            }
        }
    }

    /** The data file tokenized and packed into rows of {@code --seq-len} tokens, exactly as {@code retort distill} packs it. */
    public static PackedData pack(Llm model, Options o) throws IOException {
        Tokenizer tokenizer = model.tokenizer();
        var template = ChatTemplate.read(o.teacher(), tokenizer).orElse(null);
        return PackedData.pack(CorpusReader.read(o.data(), tokenizer, template), o.seqLen(), Math.max(0, tokenizer.eosId()));
    }

    /** What the cache records about its making: the teacher, k, T, the sequence length and the vocabulary and data hashes. */
    public static CacheDescription describe(Llm model, Options o) throws IOException {
        return new CacheDescription(o.teacher().getFileName().toString(), o.teacher().toString(), model.config().vocabSize(),
                o.topK(), o.temperature(), o.seqLen(), CacheHashes.vocabulary(model.tokenizer()), o.data().getFileName().toString(),
                CacheHashes.file(o.data()));
    }

    /**
     * Runs the teacher over rows [0, {@code rows}) in passes of {@code batchSize} sequences and appends each row to
     * {@code writer} in order. The passes are cut from row 0, so rows scored in several calls, each starting at a
     * multiple of {@code batchSize}, go through exactly the passes of one call over them all.
     *
     * @param row the tokens [seq] of row i
     * @param scored gets the number of rows appended after every pass
     */
    public static void score(LlamaModel teacher, BufferPool pool, IntFunction<int[]> row, int rows, int batchSize,
                             TeacherCacheWriter writer, IntConsumer scored) {
        if (rows == 0) return;
        int vocab = teacher.config().vocabSize(), seq = row.apply(0).length;
        // one sequence's logits [seq × V] at a time from the native tensor, so the heap holds one sequence
        float[] sequenceLogits = new float[Math.multiplyExact(seq, vocab)];
        for (int first = 0; first < rows; first += batchSize) {
            int n = Math.min(batchSize, rows - first);
            int[] tokens = new int[n * seq];
            for (int i = 0; i < n; i++) System.arraycopy(row.apply(first + i), 0, tokens, i * seq, seq);
            try (Graph g = Graph.noGrad(pool)) {
                var logits = teacher.logits(g, tokens, n, seq).value();   // [n × seq × V]
                for (int i = 0; i < n; i++) {
                    MemorySegment.copy(logits.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED,
                            logits.byteOffset() + (long) i * seq * vocab * 4, sequenceLogits, 0, seq * vocab);
                    writer.append(Arrays.copyOfRange(tokens, i * seq, (i + 1) * seq), sequenceLogits);
                }
            }
            scored.accept(first + n);
        }
    }
}
