package dev.retort.cli;

import dev.retort.distill.experiment.AceAttorneyExperiment;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code retort experiment NAME [--quick] [--seeds N] --out DIR}: a seed paper's finding reproduced in miniature on
 * data the project generates, its arms run and scored; writes {@code results.jsonl} and {@code report.html} in DIR
 * and prints a table. Experiments: {@code ace-attorney} ({@link AceAttorneyExperiment}). Last line:
 * {@code experiment NAME: results in DIR/results.jsonl, report DIR/report.html}.
 */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Reproduce a seed paper's finding in miniature: ace-attorney (synthetic QA from documents + SGP).")
final class ExperimentCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The experiment: ace-attorney.")
    String name;

    @Option(names = "--out", required = true, description = "Working directory for the run's files.")
    Path out;

    @Option(names = "--quick", description = "A smaller size that finishes in a few minutes on 2 cores.")
    boolean quick;

    @Option(names = "--seeds", defaultValue = "3", description = "Seeds for each arm (default ${DEFAULT-VALUE}).")
    int seeds;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (!name.equals("ace-attorney")) throw new IllegalArgumentException("experiment: unknown experiment " + name + "; expected ace-attorney");
        if (threads != null) ThreadPool.setSharedThreads(threads);
        AceAttorneyExperiment.Summary s = AceAttorneyExperiment.run(out,
                quick ? AceAttorneyExperiment.Size.quick() : AceAttorneyExperiment.Size.standard(), seeds, System.err);
        List<String> header = AceAttorneyExperiment.TABLE_HEADER;
        System.out.printf(Locale.ROOT, "%-34s %-16s %-16s %-20s %s%n", header.toArray());
        for (List<String> row : AceAttorneyExperiment.table(s.rows())) System.out.printf(Locale.ROOT, "%-34s %-16s %-16s %-20s %s%n", row.toArray());
        System.out.println("experiment " + name + ": results in " + s.results() + ", report " + s.report());
        return 0;
    }
}
