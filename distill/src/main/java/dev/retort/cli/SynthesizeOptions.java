package dev.retort.cli;

import dev.retort.distill.synth.SynthesizeJob;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The flags of {@code retort synthesize}, and of the same job on Spark in the spark module: one definition, so both
 * commands take the same names, defaults and help.
 */
public final class SynthesizeOptions {
    @Option(names = "--docs", required = true, description = "Documents: a directory of text files, a JSONL file of {\"id\", \"text\"}, or one text file.")
    Path docs;

    @Option(names = "--out", required = true, description = "Output JSONL of kept triplets (new, or an unfinished run of the same command to continue); "
            + "rejected ones go to OUT.rejected.jsonl beside it.")
    Path out;

    @Option(names = "--context-tokens", defaultValue = "128", description = "Context budget in words: paragraphs are joined or cut to fit (default ${DEFAULT-VALUE}).")
    int contextTokens;

    @Option(names = "--template", description = "Prompt template with {context} where the context goes (default: 'passage: {context}\\nquestion:', "
            + "or an instruction as the user's message for a model with a chat template).")
    Path template;

    @Option(names = "--samples-per-context", defaultValue = "1", description = "Triplets asked per context (default ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--min-support", defaultValue = "0.5",
            description = "Keep an answer only when at least this fraction of its words occur in its context; 0 turns the filter off (default ${DEFAULT-VALUE}).")
    double minSupport;

    @Option(names = "--train-on", defaultValue = "question-answer",
            description = "The student's completion: question-answer (prompt = the context; what SGP's judgement needs) or answer "
                    + "(prompt = context + question) (default ${DEFAULT-VALUE}).")
    String trainOn;

    @Mixin
    TeacherWriterOptions writer;

    @Mixin
    SamplingOptions sampling;

    /** The job's options, checked; applies --threads to this process. */
    public SynthesizeJob.Options options() {
        writer.applyThreads();
        return new SynthesizeJob.Options(writer.teacher, writer.adapter, docs, out, contextTokens, template, samples,
                sampling.settings(), writer.batch, writer.chunk, minSupport, SynthesizeJob.TrainOn.parse(trainOn), writer.memoryLimit);
    }
}
