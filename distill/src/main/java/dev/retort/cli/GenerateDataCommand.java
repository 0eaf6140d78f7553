package dev.retort.cli;

import dev.retort.distill.synth.GenerateDataJob;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code retort generate-data --teacher DIR --prompts FILE --out FILE.jsonl}: the teacher writes responses to
 * prompts, for sequence-level KD ({@code distill --method seqkd}). Run the same command again after a kill to
 * continue. The last line is {@link GenerateDataJob.Summary#line}.
 */
@Command(name = "generate-data", mixinStandardHelpOptions = true,
        description = "Let the teacher write responses to prompts: JSONL {\"prompt\", \"response\"} for sequence-level KD.")
final class GenerateDataCommand implements Callable<Integer> {
    @Mixin
    GenerateDataOptions generate;

    @Override
    public Integer call() throws Exception {
        GenerateDataJob.Options o = generate.options();
        GenerateDataJob.Summary summary = GenerateDataJob.run(o, System.err);
        System.out.println(summary.line(o.out(), o.samples()));
        return 0;
    }
}
