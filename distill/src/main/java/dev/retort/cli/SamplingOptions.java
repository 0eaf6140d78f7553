package dev.retort.cli;

import dev.retort.models.Sampling;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** How tokens are drawn: the flags {@code generate} and {@code generate-data} share, as one {@link Sampling}. */
final class SamplingOptions {
    @Option(names = "--max-tokens", defaultValue = "256", description = "Most tokens to generate (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "0 = greedy (default ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--top-p", defaultValue = "0.95", description = "Nucleus sampling mass (default ${DEFAULT-VALUE}).")
    float topP;

    @Option(names = "--top-k", defaultValue = "0", description = "Keep only the k most likely tokens; 0 = all (default ${DEFAULT-VALUE}).")
    int topK;

    @Option(names = "--min-p", defaultValue = "0", description = "Keep only tokens at least this fraction as likely as the best; 0 = all (default ${DEFAULT-VALUE}).")
    float minP;

    @Option(names = "--repetition-penalty", defaultValue = "1", description = "Penalise tokens already in the sequence (1 = off; HF's repetition_penalty) (default ${DEFAULT-VALUE}).")
    float repetitionPenalty;

    @Option(names = "--stop", description = "Stop when the text reaches this string (not included); repeatable.")
    List<String> stops = new ArrayList<>();

    @Option(names = "--seed", defaultValue = "42", description = "Sampling seed (default ${DEFAULT-VALUE}).")
    long seed;

    /** The settings, with each value checked against its flag. */
    Sampling settings() {
        return Sampling.fromFlags(maxTokens, temperature, topK, topP, minP, repetitionPenalty, stops, seed);
    }
}
