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
        if (maxTokens < 0) throw new IllegalArgumentException("--max-tokens must be >= 0, got " + maxTokens);
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("--temperature must be a finite number >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
        if (topK < 0) throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
        if (!(minP >= 0 && minP < 1)) throw new IllegalArgumentException("--min-p must be in [0, 1), got " + minP);
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("--repetition-penalty must be a finite number > 0 (1 = off), got " + repetitionPenalty);
        }
        for (String s : stops) if (s.isEmpty()) throw new IllegalArgumentException("--stop must not be empty");
        return new Sampling(maxTokens, temperature, topK, topP, minP, repetitionPenalty, stops, seed);
    }
}
