package dev.retort.cli;

import dev.retort.distill.MemoryPlan;
import dev.retort.distill.cache.TeacherCacheJob;
import dev.retort.distill.cache.TeacherCacheWriter;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort cache-teacher --teacher DIR --data FILE --top-k K --out FILE}: parse, run {@link TeacherCacheJob},
 * print what was cached.
 */
@Command(name = "cache-teacher", mixinStandardHelpOptions = true, description = "Store a teacher's top-k logits over a data file.")
final class CacheTeacherCommand implements Callable<Integer> {
    @Option(names = "--teacher", required = true, description = "Teacher model directory or GGUF file.")
    Path teacher;
    @Option(names = "--data", required = true, description = "The training data (as given to distill).")
    Path data;
    @Option(names = "--top-k", required = true, description = "Logits kept per token.")
    int topK;
    @Option(names = "--out", required = true, description = "The cache file to write.")
    Path out;
    @Option(names = "--temperature", description = "The KD temperature the rest log-sum-exp is computed at (default ${DEFAULT-VALUE}).")
    float temperature = (float) dev.retort.distill.loss.KdConfig.DEFAULTS.temperature();
    @Option(names = "--seq-len", description = "Tokens per sequence, as for distill (default ${DEFAULT-VALUE}).")
    int seqLen = dev.retort.distill.options.DataOptions.DEFAULTS.seqLen();
    @Option(names = "--batch-size", description = "Sequences per teacher pass (default ${DEFAULT-VALUE}).")
    int batchSize = dev.retort.distill.train.TrainingConfig.DEFAULTS.batchSize();
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        TeacherCacheWriter.requireWritable(out);   // first: the teacher pass can take hours
        long tokens = (long) Math.max(1, batchSize) * Math.max(1, seqLen);   // one pass's logits are [batch × seq × V]
        MemoryPlan.inference(teacher, tokens, 0, tokens).requireWithin(MemoryPlan.limit(memoryLimit),
                "lower --batch-size or --seq-len, or raise --memory-limit");
        TeacherCacheJob.Result r = TeacherCacheJob.run(
                new TeacherCacheJob.Options(teacher, data, seqLen, topK, temperature, batchSize, out), System.err);
        System.out.printf(Locale.ROOT, "cached %d sequences (%d tokens, top-%d at T=%.2f) in %.1f s: %s%n",
                r.sequences(), r.tokens(), topK, temperature, r.seconds(), out);
        return 0;
    }
}
