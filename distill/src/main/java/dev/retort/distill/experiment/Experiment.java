package dev.retort.distill.experiment;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

/**
 * One seed paper's finding reproduced in miniature: {@code retort experiment NAME [--quick] [--seeds N] --out DIR}.
 * An experiment generates its own data with the project's code, runs its arms, and writes {@code results.jsonl}
 * (one JSON object per arm, seed and measurement) and {@code report.html} in its directory; it returns a table for
 * standard output and the paper's claims with what this run measured. {@code quick} must finish in a few minutes on
 * two cores (the test suite runs it); the full size is what bench/RESULTS.md records. Every experiment is listed in
 * {@link Experiments#ALL}.
 */
public interface Experiment {
    /** The name {@code retort experiment} takes, e.g. {@code meta-cost}. */
    String name();

    /** One line for the command's help: the paper and what is measured. */
    String description();

    /** Runs every arm for seeds 1..{@code seeds} in {@code out} (created; the experiment's own files replaced), logging progress. */
    Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException;

    /** Whether a paper's claim held on this run. */
    enum Verdict {
        HOLDS("holds"), DOES_NOT_HOLD("does not hold"), INCONCLUSIVE("inconclusive");

        public final String words;

        Verdict(String words) {
            this.words = words;
        }
    }

    /** A claim of the paper, what this run measured (numbers in words), and the verdict. */
    record Finding(String claim, String measured, Verdict verdict) {}

    /** What a run wrote and found: a table (header, then rows of cells), the findings, and the two files. */
    record Outcome(List<String> header, List<List<String>> table, List<Finding> findings, Path results, Path report) {
        public Outcome {
            header = List.copyOf(header);
            table = table.stream().map(List::copyOf).toList();
            findings = List.copyOf(findings);
        }
    }
}
