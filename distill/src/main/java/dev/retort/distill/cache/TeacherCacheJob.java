package dev.retort.distill.cache;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Llm;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;

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
    public record Result(long sequences, long tokens, double seconds) {}

    /** Writes the cache; {@code progress} gets a running count (null: quiet). */
    public static Result run(Options o, PrintStream progress) throws IOException {
        try (Llm model = Llm.open(o.teacher()); BufferPool pool = new BufferPool()) {
            LlamaConfig config = model.config();
            Tokenizer tokenizer = model.tokenizer();
            LlamaModel teacher = model.model();
            var template = dev.retort.models.tokenizer.ChatTemplate.read(o.teacher(), tokenizer).orElse(null);
            PackedData rows = PackedData.pack(CorpusReader.read(o.data(), tokenizer, template), o.seqLen(), Math.max(0, tokenizer.eosId()));
            int vocab = config.vocabSize(), seq = o.seqLen();
            CacheDescription description = new CacheDescription(o.teacher().getFileName().toString(), o.teacher().toString(), vocab,
                    o.topK(), o.temperature(), seq, CacheHashes.vocabulary(tokenizer), o.data().getFileName().toString(),
                    CacheHashes.file(o.data()));
            long start = System.nanoTime();
            float[] sequenceLogits = new float[Math.multiplyExact(seq, vocab)];
            boolean terminal = System.console() != null;
            int lastDecile = -1;
            try (TeacherCacheWriter writer = TeacherCacheWriter.create(o.out(), description)) {
                for (int first = 0; first < rows.rows(); first += o.batchSize()) {
                    int n = Math.min(o.batchSize(), rows.rows() - first);
                    int[] tokens = new int[n * seq];
                    for (int i = 0; i < n; i++) System.arraycopy(rows.inputs(first + i), 0, tokens, i * seq, seq);
                    // one sequence's logits [seq × V] at a time from the native tensor, so the heap holds one sequence
                    try (Graph g = Graph.noGrad(pool)) {
                        var logits = teacher.logits(g, tokens, n, seq).value();   // [n × seq × V]
                        for (int i = 0; i < n; i++) {
                            MemorySegment.copy(logits.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED,
                                    logits.byteOffset() + (long) i * seq * vocab * 4, sequenceLogits, 0, seq * vocab);
                            writer.append(Arrays.copyOfRange(tokens, i * seq, (i + 1) * seq), sequenceLogits);
                        }
                    }
                    if (progress != null) {
                        int done = first + n, decile = (int) (10L * done / rows.rows());
                        if (terminal) {
                            progress.printf(Locale.ROOT, "\rcached %d/%d sequences", done, rows.rows());
                        } else if (decile != lastDecile) {   // a log file gets a plain line every 10%
                            progress.printf(Locale.ROOT, "cached %d/%d sequences%n", done, rows.rows());
                            lastDecile = decile;
                        }
                    }
                }
                writer.finish();
                if (progress != null && terminal) progress.println();
                return new Result(writer.sequenceCount(), writer.tokenCount(), (System.nanoTime() - start) / 1e9);
            }
        }
    }
}
