package dev.retort.models;

import dev.retort.models.llama.Sampler;

/**
 * How {@link Llm#generate} picks tokens: at most {@code maxTokens} new tokens, drawn from
 * softmax(logits / temperature) cut to the {@code topK} most likely (0 = all) and to the nucleus of mass
 * {@code topP}, with a seeded generator. Temperature 0 is greedy and deterministic. The defaults are those of
 * {@code retort generate}.
 *
 * <pre>{@code
 * Sampling.greedy(64)
 * Sampling.defaults().withTemperature(0.7f).withSeed(7)
 * }</pre>
 *
 * @param maxTokens   most tokens to generate, at least 0 (generation also stops at an end-of-sequence token)
 * @param temperature 0 = greedy, otherwise the softmax temperature
 * @param topK        keep only the k most likely tokens; 0 = all
 * @param topP        nucleus mass in (0, 1]; 1 = all
 * @param seed        seeds the draws: the same seed gives the same text
 */
public record Sampling(int maxTokens, float temperature, int topK, float topP, long seed) {

    public Sampling {
        if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        new Sampler(temperature, topK, topP, seed);   // checks the other settings with the sampler's own messages
    }

    /** 256 tokens at temperature 0.8, top-p 0.95, all tokens, seed 42 ({@code retort generate}'s defaults). */
    public static Sampling defaults() {
        return new Sampling(256, 0.8f, 0, 0.95f, 42);
    }

    /** Greedy decoding of at most {@code maxTokens} tokens: always the most likely token. */
    public static Sampling greedy(int maxTokens) {
        return new Sampling(maxTokens, 0, 0, 1, 0);
    }

    public Sampling withMaxTokens(int n) { return new Sampling(n, temperature, topK, topP, seed); }

    public Sampling withTemperature(float t) { return new Sampling(maxTokens, t, topK, topP, seed); }

    public Sampling withTopK(int k) { return new Sampling(maxTokens, temperature, k, topP, seed); }

    public Sampling withTopP(float p) { return new Sampling(maxTokens, temperature, topK, p, seed); }

    public Sampling withSeed(long s) { return new Sampling(maxTokens, temperature, topK, topP, s); }

    /** A fresh sampler for one generation (a sampler carries its random state, so it is not reused). */
    public Sampler sampler() {
        return new Sampler(temperature, topK, topP, seed);
    }
}
