package dev.retort.cli;

import dev.retort.distill.synth.GenerateDataJob;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The flags of {@code retort generate-data}, and of the same job on Spark in the spark module: one definition, so
 * both commands take the same names, defaults and help.
 */
public final class GenerateDataOptions {
    @Option(names = "--prompts", required = true, description = "Prompts: JSONL with a \"prompt\" per line, or text with one prompt per line.")
    Path prompts;

    @Option(names = "--out", required = true, description = "Output JSONL file (new, or an unfinished run of the same command to continue).")
    Path out;

    @Option(names = "--samples-per-prompt", defaultValue = "1", description = "Responses per prompt (default ${DEFAULT-VALUE}).")
    int samples;

    @Mixin
    TeacherWriterOptions writer;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--drop-empty", description = "Leave out empty responses.")
    boolean dropEmpty;

    @Option(names = "--drop-truncated", description = "Leave out responses cut by --max-tokens (no end-of-sequence or stop string).")
    boolean dropTruncated;

    @Option(names = "--drop-duplicates", description = "Leave out a response already written for the same prompt.")
    boolean dropDuplicates;

    /** The job's options, checked; applies --threads to this process. */
    public GenerateDataJob.Options options() {
        writer.applyThreads();
        return new GenerateDataJob.Options(writer.teacher, writer.adapter, prompts, out, samples, sampling.settings(),
                writer.batch, writer.chunk, dropEmpty, dropTruncated, dropDuplicates, writer.memoryLimit);
    }
}
