package dev.retort.cli;

import dev.retort.distill.synth.SynthesizeJob;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code retort synthesize --teacher DIR --docs FILE|DIR --out FILE.jsonl}: the frozen teacher writes a question
 * and its answer for each context of a document collection; the triplets that pass the filters train a student
 * with {@code distill --method seqkd --data FILE.jsonl}. Run the same command again after a kill to continue. The
 * last line is {@link SynthesizeJob.Summary#line}.
 */
@Command(name = "synthesize", mixinStandardHelpOptions = true,
        description = "Let the teacher write (context, question, answer) triplets from documents, filtered, as JSONL for seqkd.")
final class SynthesizeCommand implements Callable<Integer> {
    @Mixin
    SynthesizeOptions synthesize;

    @Override
    public Integer call() throws Exception {
        SynthesizeJob.Options o = synthesize.options();
        SynthesizeJob.Summary summary = SynthesizeJob.run(o, System.err);
        System.out.println(summary.line(o.out(), o.samples()));
        return 0;
    }
}
