package dev.retort.cli;

import dev.retort.distill.cache.TeacherCacheJob;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The flags that say what a teacher cache is made from and how ({@code retort cache-teacher}, and the same job on
 * Spark in the spark module): one definition, so both commands take the same names, defaults and help.
 */
public final class CacheTeacherOptions {
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

    /** The job's options, checked. */
    public TeacherCacheJob.Options options() {
        return new TeacherCacheJob.Options(teacher, data, seqLen, topK, temperature, batchSize, out);
    }
}
