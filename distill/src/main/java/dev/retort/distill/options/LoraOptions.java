package dev.retort.distill.options;

import dev.retort.models.lora.LoraConfig;
import java.util.List;

/**
 * The student's LoRA adapters, as PEFT names them ({@code r}, {@code lora_alpha}, {@code lora_dropout},
 * {@code target_modules}, {@code use_rslora}) plus LoRA+'s learning-rate ratio.
 *
 * @param rank     r, or null when not given (then {@code neo} uses {@link #NEO_RANK} and {@code sft} trains every
 *                 weight)
 * @param loraPlus LoRA+: the learning rate of B is this many times that of A (1 = off)
 */
public record LoraOptions(Integer rank, double alpha, double dropout, List<String> targets, boolean rsLora, double loraPlus) {
    /** The rank {@code neo} uses when none is given. */
    public static final int NEO_RANK = 16;
    /** The command line's defaults: no rank, alpha 32, no dropout, all seven projections. */
    public static final LoraOptions DEFAULTS = new LoraOptions(null, 32, 0, LoraConfig.LLAMA_MODULES, false, 1);

    public LoraOptions {
        targets = List.copyOf(targets);
        if (rank != null && rank < 1) throw new IllegalArgumentException("--lora-rank must be at least 1, got " + rank);
        if (!(loraPlus > 0) || Double.isInfinite(loraPlus)) throw new IllegalArgumentException("--lora-plus must be a positive number, got " + loraPlus);
    }

    public LoraOptions withRank(Integer r, double newAlpha) {
        return new LoraOptions(r, newAlpha, dropout, targets, rsLora, loraPlus);
    }

    /** The adapters' shape: this rank, or {@code defaultRank} when none was given; A is initialised from {@code seed}. */
    public LoraConfig config(int defaultRank, long seed) {
        return new LoraConfig(rank == null ? defaultRank : rank, alpha, dropout, targets, rsLora, seed);
    }

    /** For the run's fingerprint and report: the adapters a run trains, with {@code defaultRank} when no rank was given (null: none). */
    public String describe(Integer defaultRank) {
        Integer r = rank != null ? rank : defaultRank;
        return r == null ? "none" : "r=" + r + " alpha=" + alpha + " dropout=" + dropout + " targets="
                + String.join(",", targets) + " rslora=" + rsLora + " lora-plus=" + loraPlus;
    }
}
