package dev.retort.cli;

import dev.retort.distill.synth.SynthesizeJob;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort synthesize --teacher DIR --docs FILE|DIR --out FILE.jsonl}: the frozen teacher writes a question
 * and its answer for each context of a document collection; the triplets that pass the filters train a student
 * with {@code distill --method seqkd --data FILE.jsonl}. Run the same command again after a kill to continue. The
 * last line is {@link SynthesizeJob.Summary#line}.
 */
@Command(name = "synthesize", mixinStandardHelpOptions = true,
        description = "Let the teacher write (context, question, answer) triplets from documents, filtered, as JSONL for seqkd.")
final class SynthesizeCommand implements Callable<Integer> {
    @Option(names = "--teacher", required = true, description = "Teacher model directory (Hugging Face layout) or GGUF file.")
    Path teacher;

    @Option(names = "--adapter", description = "PEFT LoRA adapter merged into the teacher on load.")
    Path adapter;

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
    SamplingOptions sampling;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences generated together (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--chunk", defaultValue = "64", description = "Contexts written to --out at a time (default ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        SynthesizeJob.Options options = new SynthesizeJob.Options(teacher, adapter, docs, out, contextTokens, template, samples,
                sampling.settings(), batch, chunk, minSupport, SynthesizeJob.TrainOn.parse(trainOn), memoryLimit);
        SynthesizeJob.Summary summary = SynthesizeJob.run(options, System.err);
        System.out.println(summary.line(out, samples));
        return 0;
    }
}
