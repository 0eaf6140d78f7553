package dev.retort.cli;

import dev.retort.distill.qa.Sgp;
import picocli.CommandLine.Option;

/** The Selective Generative Paradigm's flags, shared by {@code answer} and {@code eval-qa} ({@link Sgp}). */
final class SgpOptionsMixin {
    @Option(names = "--candidates", defaultValue = "5", description = "Contexts BM25 proposes for the student to judge (default ${DEFAULT-VALUE}).")
    int candidates;

    @Option(names = "--sgp-weight", defaultValue = "0.5",
            description = "Weight w of the normalised BM25 score against the student's (1 - w); 1 is BM25's top hit (default ${DEFAULT-VALUE}).")
    double bm25Weight;

    @Option(names = "--answer-weight", defaultValue = "1.0",
            description = "Weight of the student's answer log-likelihood beside its question log-likelihood (default ${DEFAULT-VALUE}).")
    double answerWeight;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Longest answer generated, in tokens (default ${DEFAULT-VALUE}).")
    int maxTokens;

    Sgp.Options options() {
        return new Sgp.Options(candidates, bm25Weight, answerWeight, maxTokens);
    }
}
