package dev.retort.models.lora;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The shape of a LoRA: which Linear layers of every decoder layer get an adapter, its rank and scaling.
 *
 * <p>Each adapted layer computes {@code y = x·Wᵀ + scale · (dropout(x)·Aᵀ)·Bᵀ} with A [r × in], B [out × r] and
 * {@code scale = alpha / r}, or {@code alpha / √r} with rsLoRA (Kalajdzievski 2023, which keeps the update's
 * magnitude stable as r grows). These are PEFT's {@code r}, {@code lora_alpha}, {@code lora_dropout},
 * {@code target_modules} and {@code use_rslora}.
 *
 * @param rank          r, at least 1
 * @param alpha         lora_alpha, a positive finite number
 * @param dropout       probability in [0, 1) of zeroing an input element of the adapter branch while training
 * @param targetModules short module names, a subset of {@link #LLAMA_MODULES} (duplicates removed, order kept);
 *                      {@link #ALL_LINEAR} alone stands for all of them
 * @param useRsLora     scale by alpha/√r instead of alpha/r
 * @param seed          seeds A's initialisation and the dropout masks
 */
public record LoraConfig(int rank, double alpha, double dropout, List<String> targetModules, boolean useRsLora, long seed) {

    /** The Linear layers of a Llama decoder layer, by the short names PEFT matches. */
    public static final List<String> LLAMA_MODULES =
            List.of("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj");

    /** PEFT's shorthand for every linear layer except the output head. */
    public static final String ALL_LINEAR = "all-linear";

    public LoraConfig {
        if (rank < 1) throw new IllegalArgumentException("LoRA rank r must be at least 1, got " + rank);
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("LoRA alpha must be a positive finite number, got " + alpha);
        }
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("LoRA dropout must be in [0, 1), got " + dropout);
        }
        targetModules = normalise(targetModules);
    }

    /** A config with no dropout, alpha/r scaling and seed 0. */
    public static LoraConfig of(int rank, double alpha, String... targetModules) {
        return new LoraConfig(rank, alpha, 0, List.of(targetModules), false, 0);
    }

    public LoraConfig withDropout(double p) {
        return new LoraConfig(rank, alpha, p, targetModules, useRsLora, seed);
    }

    public LoraConfig withRsLora(boolean on) {
        return new LoraConfig(rank, alpha, dropout, targetModules, on, seed);
    }

    public LoraConfig withSeed(long newSeed) {
        return new LoraConfig(rank, alpha, dropout, targetModules, useRsLora, newSeed);
    }

    /** The factor applied to B·A: alpha/r, or alpha/√r with rsLoRA. */
    public double scale() {
        return useRsLora ? alpha / Math.sqrt(rank) : alpha / rank;
    }

    /** Whether {@code module} (a short name such as "q_proj") is adapted. */
    public boolean targets(String module) {
        return targetModules.contains(module);
    }

    /** Expands "all-linear", removes duplicates (keeping the first), and rejects unknown names. */
    private static List<String> normalise(List<String> names) {
        if (names == null || names.isEmpty()) {
            throw new IllegalArgumentException("LoRA target_modules is empty; choose from " + LLAMA_MODULES
                    + " or \"" + ALL_LINEAR + "\"");
        }
        if (names.size() == 1 && ALL_LINEAR.equals(names.getFirst())) return LLAMA_MODULES;
        if (names.contains(ALL_LINEAR)) {
            throw new IllegalArgumentException("LoRA target_modules " + names + ": \"" + ALL_LINEAR
                    + "\" already means every linear layer and cannot be combined with other names");
        }
        Set<String> unique = new LinkedHashSet<>();
        for (String name : names) {
            if (name == null) throw new IllegalArgumentException("LoRA target_modules " + names + " contains null");
            if (!LLAMA_MODULES.contains(name)) {
                throw new IllegalArgumentException("unknown LoRA target module '" + name + "'; valid names are "
                        + LLAMA_MODULES + " or \"" + ALL_LINEAR + "\"");
            }
            unique.add(name);
        }
        return List.copyOf(unique);
    }
}
