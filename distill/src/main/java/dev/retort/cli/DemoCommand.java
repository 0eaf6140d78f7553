package dev.retort.cli;

import dev.retort.distill.demo.DemoRun;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort demo}: the README's main job — a real distillation end to end on a corpus the project
 * generates: train a teacher, distil a student with LLM-Neo, train the same student with SFT for the same
 * budget, and print the comparison and the report's path.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Distillation end to end on a generated corpus: teacher, LLM-Neo student vs SFT student.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--out", defaultValue = "runs/demo", description = "Working directory (default ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        DemoRun.Summary summary = DemoRun.run(out, DemoRun.Size.standard(), System.out);
        System.out.println();
        System.out.printf(Locale.ROOT, "%-36s %12s %18s %12s%n", "model", "perplexity", "agreement", "KL");
        for (DemoRun.Row r : summary.rows()) {
            System.out.printf(Locale.ROOT, "%-36s %12.3f %18.3f %12.4f%n", r.model(), r.perplexity(), r.agreement(), r.kl());
        }
        DemoRun.Row neo = summary.rows().get(1), sft = summary.rows().get(2);
        System.out.println();
        if (neo.perplexity() < sft.perplexity()) {
            System.out.printf(Locale.ROOT, "KD (neo) beats SFT at equal budget: perplexity %.3f vs %.3f, agreement %.3f vs %.3f%n",
                    neo.perplexity(), sft.perplexity(), neo.agreement(), sft.agreement());
        } else {
            System.out.printf(Locale.ROOT, "KD (neo) did not beat SFT this time: perplexity %.3f vs %.3f (agreement %.3f vs %.3f)%n",
                    neo.perplexity(), sft.perplexity(), neo.agreement(), sft.agreement());
        }
        System.out.println("report: " + summary.report().toAbsolutePath());
        return 0;
    }
}
