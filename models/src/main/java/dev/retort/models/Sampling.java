package dev.retort.models;

import dev.retort.models.llama.Sampler;
import java.util.List;

/**
 * How {@link Llm#generate} picks tokens: at most {@code maxTokens} new tokens, drawn from
 * softmax(logits / temperature) cut to the {@code topK} most likely (0 = all), to the nucleus of mass
 * {@code topP} and to the tokens at least {@code minP} times as likely as the best, after a repetition penalty,
 * with a seeded generator; generation ends at end-of-sequence or at a stop string. Temperature 0 is greedy and
 * deterministic. The defaults are those of {@code retort generate}.
 *
 * <pre>{@code
 * Sampling.greedy(64)
 * Sampling.defaults().withTemperature(0.7f).withSeed(7).withStops(List.of("\n\n"))
 * }</pre>
 *
 * @param maxTokens         most tokens to generate, at least 0
 * @param temperature       0 = greedy, otherwise the softmax temperature
 * @param topK              keep only the k most likely tokens; 0 = all
 * @param topP              nucleus mass in (0, 1]; 1 = all
 * @param minP              keep tokens with p &ge; minP·p_max, in [0, 1); 0 = all
 * @param repetitionPenalty divides positive (multiplies negative) logits of tokens already in the sequence; 1 = off
 * @param stops             strings that end the generation; the text stops before them
 * @param seed              seeds the draws: the same seed gives the same text
 */
public record Sampling(int maxTokens, float temperature, int topK, float topP, float minP, float repetitionPenalty,
                       List<String> stops, long seed) implements java.io.Serializable {

    public Sampling {
        if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        stops = List.copyOf(stops);
        for (String s : stops) if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
        new Sampler(temperature, topK, topP, minP, repetitionPenalty, seed);   // checks the rest with the sampler's messages
    }

    /**
     * The settings a command line gave, each value checked in the words of its flag ({@code --max-tokens},
     * {@code --temperature}, …): {@code retort generate} and {@code retort-run} share these flags.
     */
    public static Sampling fromFlags(int maxTokens, float temperature, int topK, float topP, float minP, float repetitionPenalty,
                                     List<String> stops, long seed) {
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

    /** Without min-p, repetition penalty or stop strings. */
    public Sampling(int maxTokens, float temperature, int topK, float topP, long seed) {
        this(maxTokens, temperature, topK, topP, 0, 1, List.of(), seed);
    }

    /** 256 tokens at temperature 0.8, top-p 0.95, all tokens, seed 42 ({@code retort generate}'s defaults). */
    public static Sampling defaults() {
        return new Sampling(256, 0.8f, 0, 0.95f, 42);
    }

    /** Greedy decoding of at most {@code maxTokens} tokens: always the most likely token. */
    public static Sampling greedy(int maxTokens) {
        return new Sampling(maxTokens, 0, 0, 1, 0);
    }

    public Sampling withMaxTokens(int n) { return new Sampling(n, temperature, topK, topP, minP, repetitionPenalty, stops, seed); }

    public Sampling withTemperature(float t) { return new Sampling(maxTokens, t, topK, topP, minP, repetitionPenalty, stops, seed); }

    public Sampling withTopK(int k) { return new Sampling(maxTokens, temperature, k, topP, minP, repetitionPenalty, stops, seed); }

    public Sampling withTopP(float p) { return new Sampling(maxTokens, temperature, topK, p, minP, repetitionPenalty, stops, seed); }

    public Sampling withMinP(float p) { return new Sampling(maxTokens, temperature, topK, topP, p, repetitionPenalty, stops, seed); }

    public Sampling withRepetitionPenalty(float r) { return new Sampling(maxTokens, temperature, topK, topP, minP, r, stops, seed); }

    public Sampling withStops(List<String> s) { return new Sampling(maxTokens, temperature, topK, topP, minP, repetitionPenalty, s, seed); }

    public Sampling withSeed(long s) { return new Sampling(maxTokens, temperature, topK, topP, minP, repetitionPenalty, stops, s); }

    /** A fresh sampler for one generation (a sampler carries its random state, so it is not reused). */
    public Sampler sampler() {
        return new Sampler(temperature, topK, topP, minP, repetitionPenalty, seed);
    }

    /** A fresh sampler seeded for sequence {@code index} of a batch: its own stream, whatever else runs with it. */
    public Sampler sampler(long index) {
        return new Sampler(temperature, topK, topP, minP, repetitionPenalty, sequenceSeed(seed, index));
    }

    /**
     * The seed of sequence {@code index} under run seed {@code seed}: the seed itself for sequence 0 (so the first
     * of a batch writes what a single generation with that seed writes), a SplitMix64 mix for the others.
     */
    public static long sequenceSeed(long seed, long index) {
        if (index == 0) return seed;
        long z = seed + 0x9E3779B97F4A7C15L * (index + 1);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** A request for {@link dev.retort.models.llama.Generator} with these settings and {@code sampler}. */
    public dev.retort.models.llama.Generator.Request request(int[] prompt, Sampler sampler) {
        return new dev.retort.models.llama.Generator.Request(prompt, maxTokens, sampler, stops);
    }
}
