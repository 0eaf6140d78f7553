package dev.retort.cli;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.distill.cache.CacheDescription;
import dev.retort.distill.cache.CacheHashes;
import dev.retort.distill.cache.TeacherCacheWriter;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Llm;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort cache-teacher --teacher DIR --data FILE --top-k K --out FILE}: runs the teacher once over the
 * data (packed exactly as {@code retort distill} packs it) and stores, per token, its top-k logits and the
 * log-sum-exp of the rest, so distillation can run without the teacher in memory.
 */
@Command(name = "cache-teacher", mixinStandardHelpOptions = true, description = "Store a teacher's top-k logits over a data file.")
final class CacheTeacherCommand implements Callable<Integer> {
    @Option(names = "--teacher", required = true, description = "Teacher model directory.")
    Path teacher;
    @Option(names = "--data", required = true, description = "The training data (as given to distill).")
    Path data;
    @Option(names = "--top-k", required = true, description = "Logits kept per token.")
    int topK;
    @Option(names = "--out", required = true, description = "The cache file to write.")
    Path out;
    @Option(names = "--temperature", defaultValue = "2.0", description = "The KD temperature the rest log-sum-exp is computed at (default ${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per sequence, as for distill (default ${DEFAULT-VALUE}).")
    int seqLen;
    @Option(names = "--batch-size", defaultValue = "8", description = "Sequences per teacher pass (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        try (Llm m = Llm.open(teacher); BufferPool pool = new BufferPool()) {
            PackedData rows = PackedData.pack(CorpusReader.read(data, m.tokenizer()), seqLen, Math.max(0, m.tokenizer().eosId()));
            int vocab = m.config().vocabSize();
            CacheDescription description = new CacheDescription(teacher.getFileName().toString(), teacher.toString(), vocab,
                    topK, temperature, seqLen, CacheHashes.vocabulary(m.tokenizer()), data.getFileName().toString(), CacheHashes.file(data));
            long start = System.nanoTime();
            try (TeacherCacheWriter writer = TeacherCacheWriter.create(out, description)) {
                for (int first = 0; first < rows.rows(); first += batchSize) {
                    int n = Math.min(batchSize, rows.rows() - first);
                    int[] tokens = new int[n * seqLen];
                    for (int i = 0; i < n; i++) System.arraycopy(rows.inputs(first + i), 0, tokens, i * seqLen, seqLen);
                    float[] logits;
                    try (Graph g = Graph.noGrad(pool)) {
                        logits = m.model().logits(g, tokens, n, seqLen).value().toFloatArray();
                    }
                    for (int i = 0; i < n; i++) {
                        writer.append(java.util.Arrays.copyOfRange(tokens, i * seqLen, (i + 1) * seqLen),
                                java.util.Arrays.copyOfRange(logits, i * seqLen * vocab, (i + 1) * seqLen * vocab));
                    }
                    System.err.printf(Locale.ROOT, "\rcached %d/%d sequences", first + n, rows.rows());
                }
                writer.finish();
                System.err.println();
                System.out.printf(Locale.ROOT, "cached %d sequences (%d tokens, top-%d at T=%.2f) in %.1f s: %s%n",
                        writer.sequenceCount(), writer.tokenCount(), topK, temperature, (System.nanoTime() - start) / 1e9, out);
            }
        }
        return 0;
    }
}
