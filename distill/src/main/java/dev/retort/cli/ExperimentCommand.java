package dev.retort.cli;

import dev.retort.distill.experiment.Experiment;
import dev.retort.distill.experiment.Experiments;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code retort experiment NAME [--quick] [--seeds N] --out DIR}: a seed paper's finding reproduced in miniature on
 * data the project generates, its arms run and scored ({@link Experiments#ALL} lists them); writes
 * {@code results.jsonl} and {@code report.html} in DIR, prints a table and each claim with its verdict
 * ({@code claim: ... | measured: ... | verdict: holds}). Last line:
 * {@code experiment NAME: results in DIR/results.jsonl, report DIR/report.html}.
 */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Reproduce a seed paper's finding in miniature (see NAME for the list).")
final class ExperimentCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The experiment's name (an unknown name lists the known ones).")
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
        Experiment experiment = Experiments.named(name);
        if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        if (threads != null) ThreadPool.setSharedThreads(threads);
        Experiment.Outcome o = experiment.run(out, quick, seeds, System.err);
        printTable(o.header(), o.table());
        for (Experiment.Finding f : o.findings()) {
            System.out.println("claim: " + f.claim() + " | measured: " + f.measured() + " | verdict: " + f.verdict().words);
        }
        System.out.println("experiment " + experiment.name() + ": results in " + o.results() + ", report " + o.report());
        return 0;
    }

    /** Columns padded to their widest cell. */
    static void printTable(List<String> header, List<List<String>> rows) {
        List<List<String>> all = new ArrayList<>();
        all.add(header);
        all.addAll(rows);
        int[] width = new int[header.size()];
        for (List<String> row : all) for (int c = 0; c < row.size() && c < width.length; c++) width[c] = Math.max(width[c], row.get(c).length());
        for (List<String> row : all) {
            StringBuilder line = new StringBuilder();
            for (int c = 0; c < row.size(); c++) {
                String cell = row.get(c);
                line.append(cell);
                if (c + 1 < row.size()) line.append(" ".repeat(Math.max(0, width[Math.min(c, width.length - 1)] - cell.length()) + 2));
            }
            System.out.println(line);
        }
    }
}
