package dev.retort.cli;

import dev.retort.distill.synth.GenerateDataJob;
import dev.retort.tensor.ThreadPool;
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
    @Option(names = "--teacher", required = true, description = "Teacher model directory (Hugging Face layout) or GGUF file.")
    Path teacher;

    @Option(names = "--adapter", description = "Adapter for the teacher: PEFT LoRA, merged on load, or Retort bottleneck adapters, applied as modules.")
    Path adapter;

    @Option(names = "--prompts", required = true, description = "Prompts: JSONL with a \"prompt\" per line, or text with one prompt per line.")
    Path prompts;

    @Option(names = "--out", required = true, description = "Output JSONL file (new, or an unfinished run of the same command to continue).")
    Path out;

    @Option(names = "--samples-per-prompt", defaultValue = "1", description = "Responses per prompt (default ${DEFAULT-VALUE}).")
    int samples;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences generated together (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--chunk", defaultValue = "64", description = "Prompts written to --out at a time (default ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--drop-empty", description = "Leave out empty responses.")
    boolean dropEmpty;

    @Option(names = "--drop-truncated", description = "Leave out responses cut by --max-tokens (no end-of-sequence or stop string).")
    boolean dropTruncated;

    @Option(names = "--drop-duplicates", description = "Leave out a response already written for the same prompt.")
    boolean dropDuplicates;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        GenerateDataJob.Options options = new GenerateDataJob.Options(teacher, adapter, prompts, out, samples, sampling.settings(),
                batch, chunk, dropEmpty, dropTruncated, dropDuplicates, memoryLimit);
        GenerateDataJob.Summary summary = GenerateDataJob.run(options, System.err);
        System.out.println(summary.line(out, samples));
        return 0;
    }
}
