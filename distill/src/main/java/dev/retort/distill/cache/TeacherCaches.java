package dev.retort.distill.cache;

import dev.retort.distill.data.Batch;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.loss.TeacherSource;
import dev.retort.distill.loss.TopKBlock;
import dev.retort.models.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.BiFunction;

/**
 * Distillation from a teacher cache ({@code retort cache-teacher}): the teacher's top-k logits of every packed
 * row of the data file, read back for each batch. The cache must come from the same vocabulary, the same data
 * file (its recorded hash) packed the same way (checked token by token), the same k and the KD temperature its
 * rest log-sum-exp used.
 */
public final class TeacherCaches {
    private TeacherCaches() {}

    public static BiFunction<Batch, Integer, TeacherSource> source(Path file, PackedData train, Path dataFile, Tokenizer tokenizer,
                                                                   KdConfig kd) {
        TeacherCache cache = TeacherCache.open(file, CacheHashes.vocabulary(tokenizer));
        cache.requireVocabSize(tokenizer.vocabSize());
        String recorded = cache.description().dataHash();
        if (!recorded.isEmpty()) {
            String now;
            try {
                now = CacheHashes.file(dataFile);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(dataFile + ": cannot read it to check it against the cache: " + e.getMessage(), e);
            }
            if (!recorded.equals(now)) {
                throw new IllegalArgumentException("--teacher-cache " + file + " was made from another data file than --data "
                        + dataFile + " (its hash differs); make the cache from this --data");
            }
        }
        if (kd.topK() == 0) {
            throw new IllegalArgumentException("--teacher-cache " + file + " holds the teacher's top-" + cache.topK()
                    + " logits: give --top-k " + cache.topK());
        }
        cache.requireTopK(kd.topK());
        float temperature = cache.description().temperature();
        if (Math.abs(temperature - kd.temperature()) > 1e-6) {
            throw new IllegalArgumentException("--teacher-cache " + file + " was made for temperature " + temperature
                    + " but --temperature is " + kd.temperature() + "; make the cache with --temperature " + kd.temperature());
        }
        return (batch, rows) -> new CachedBatch(file, cache, train, batch, kd);
    }

    /** The cache rows of one batch, as top-k blocks of its flattened tokens. */
    private record CachedBatch(Path file, TeacherCache cache, PackedData train, Batch batch, KdConfig kd) implements TeacherSource {
        @Override
        public int rows() { return batch.batch() * batch.seq(); }

        @Override
        public int vocab() { return cache.description().vocabSize(); }

        @Override
        public int topK() { return kd.topK(); }

        @Override
        public TopKBlock topKBlock(int row, int n, double temperature) {
            int k = kd.topK(), seq = batch.seq();
            int[] ids = new int[n * k];
            float[] logits = new float[n * k], rest = new float[n];
            int at = 0;
            while (at < n) {
                int r = row + at, b = r / seq, t = r % seq;
                int sequence = train.originalRow(batch.rows()[b]);
                if (sequence >= cache.sequenceCount()) {
                    throw new IllegalArgumentException(file + ": has " + cache.sequenceCount() + " sequences; the data needs row " + sequence
                            + " (was the cache made from this data file with this --seq-len?)");
                }
                int[] cachedTokens = cache.tokens(sequence);
                int[] batchTokens = Arrays.copyOfRange(batch.inputs(), b * seq, (b + 1) * seq);
                if (!Arrays.equals(cachedTokens, batchTokens)) {
                    throw new IllegalArgumentException(file + ": sequence " + sequence + " holds other tokens than the data; "
                            + "make the cache from the same --data and --seq-len");
                }
                SequenceTopK top = cache.topK(sequence);
                int count = Math.min(n - at, seq - t);
                System.arraycopy(top.ids(), t * k, ids, at * k, count * k);
                System.arraycopy(top.logits(), t * k, logits, at * k, count * k);
                System.arraycopy(top.restLse(), t, rest, at, count);
                at += count;
            }
            return new TopKBlock(n, k, temperature, ids, logits, rest);
        }
    }
}
