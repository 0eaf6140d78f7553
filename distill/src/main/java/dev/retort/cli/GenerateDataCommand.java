package dev.retort.cli;

import dev.retort.distill.synth.GenerateDataJob;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort generate-data --teacher DIR --prompts FILE --out FILE.jsonl}: the teacher writes responses to
 * prompts, for sequence-level KD ({@code distill --method seqkd}). Run the same command again after a kill to
 * continue. The last line is {@link GenerateDataJob.Summary#line}.
 */
@Command(name = "generate-data", mixinStandardHelpOptions = true,
        description = "Let the teacher write responses to prompts: JSONL {\"prompt\", \"response\"} for sequence-level KD.")
final class GenerateDataCommand implements Callable<Integer> {
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

    @Override
    public Integer call() throws Exception {
        writer.applyThreads();
        GenerateDataJob.Options options = new GenerateDataJob.Options(writer.teacher, writer.adapter, prompts, out, samples, sampling.settings(),
                writer.batch, writer.chunk, dropEmpty, dropTruncated, dropDuplicates, writer.memoryLimit);
        GenerateDataJob.Summary summary = GenerateDataJob.run(options, System.err);
        System.out.println(summary.line(out, samples));
        return 0;
    }
}
