package dev.retort.distill.options;

import dev.retort.models.adapter.BottleneckConfig;
import dev.retort.models.lora.LoraConfig;
import java.util.List;

/**
 * The student's adapters: their kind ({@code --adapter-type lora|bottleneck}), their size, and LoRA's settings as
 * PEFT names them ({@code r}, {@code lora_alpha}, {@code lora_dropout}, {@code target_modules}, {@code use_rslora})
 * plus LoRA+'s learning-rate ratio, or a bottleneck adapter's placement.
 *
 * @param rank        r, or null when not given (then {@code neo} uses {@link #NEO_RANK} and {@code sft} trains every
 *                    weight)
 * @param loraPlus    LoRA+: the learning rate of B is this many times that of A (1 = off)
 * @param adapterType {@link #LORA} (the default) or {@link #BOTTLENECK} (Houlsby adapters, which every method that
 *                    trains adapters then trains instead; {@code neo} and the methods given a size)
 * @param adapterSize the bottleneck width, or for LoRA the rank (the same as {@code rank}); null when not given
 * @param placement   where bottleneck adapters go: attention, mlp or both
 */
public record LoraOptions(Integer rank, double alpha, double dropout, List<String> targets, boolean rsLora, double loraPlus,
                          String adapterType, Integer adapterSize, String placement) {
    /** The rank {@code neo} uses when none is given, and the width of bottleneck adapters when none is given. */
    public static final int NEO_RANK = 16;
    public static final String LORA = "lora";
    public static final String BOTTLENECK = "bottleneck";
    /** The command line's defaults: no rank, alpha 32, no dropout, all seven projections; LoRA; bottlenecks after both blocks. */
    public static final LoraOptions DEFAULTS = new LoraOptions(null, 32, 0, LoraConfig.LLAMA_MODULES, false, 1, LORA, null,
            BottleneckConfig.Placement.BOTH.cliName());

    public LoraOptions {
        targets = List.copyOf(targets);
        if (rank != null && rank < 1) throw new IllegalArgumentException("--lora-rank must be at least 1, got " + rank);
        if (!(loraPlus > 0) || Double.isInfinite(loraPlus)) throw new IllegalArgumentException("--lora-plus must be a positive number, got " + loraPlus);
        if (!LORA.equals(adapterType) && !BOTTLENECK.equals(adapterType)) {
            throw new IllegalArgumentException("--adapter-type must be lora or bottleneck, got '" + adapterType + "'");
        }
        if (adapterSize != null && adapterSize < 1) throw new IllegalArgumentException("--adapter-size must be at least 1, got " + adapterSize);
        BottleneckConfig.Placement.parse(placement);
        if (BOTTLENECK.equals(adapterType)) {
            if (rank != null) {
                throw new IllegalArgumentException("--lora-rank shapes LoRA adapters; --adapter-type bottleneck takes --adapter-size");
            }
            if (alpha != DEFAULTS.alpha() || dropout != DEFAULTS.dropout() || !targets.equals(DEFAULTS.targets()) || rsLora != DEFAULTS.rsLora()
                    || loraPlus != DEFAULTS.loraPlus()) {
                throw new IllegalArgumentException("--lora-alpha, --lora-dropout, --lora-targets, --rslora and --lora-plus shape LoRA "
                        + "adapters; --adapter-type bottleneck takes --adapter-size and --adapter-placement");
            }
        } else {
            if (rank != null && adapterSize != null && !rank.equals(adapterSize)) {
                throw new IllegalArgumentException("--lora-rank " + rank + " and --adapter-size " + adapterSize
                        + " disagree; for LoRA they are the same number (give one)");
            }
            if (!placement.equals(BottleneckConfig.Placement.BOTH.cliName())) {
                throw new IllegalArgumentException("--adapter-placement goes with --adapter-type bottleneck; LoRA adapters go where --lora-targets says");
            }
        }
    }

    public LoraOptions withRank(Integer r, double newAlpha) {
        return new LoraOptions(r, newAlpha, dropout, targets, rsLora, loraPlus, adapterType, adapterSize, placement);
    }

    public boolean bottleneck() {
        return BOTTLENECK.equals(adapterType);
    }

    /** The size given on the command line (LoRA's rank or a bottleneck's width), or null. */
    public Integer size() {
        return rank != null ? rank : adapterSize;
    }

    /**
     * Whether a method that may train either way trains adapters of a frozen student rather than every weight: a
     * size was given, or bottleneck adapters were asked for.
     */
    public boolean adapted() {
        return size() != null || bottleneck();
    }

    /** The flag that asked for adapters, for the methods that refuse them. */
    public String adaptedFlag() {
        return rank != null ? "--lora-rank" : adapterSize != null ? "--adapter-size" : "--adapter-type bottleneck";
    }

    /** The adapters' shape: this rank, or {@code defaultRank} when none was given; A is initialised from {@code seed}. */
    public LoraConfig config(int defaultRank, long seed) {
        return new LoraConfig(size() == null ? defaultRank : size(), alpha, dropout, targets, rsLora, seed);
    }

    /** Bottleneck adapters of the given width, or {@link #NEO_RANK}; W_down is initialised from {@code seed}. */
    public BottleneckConfig bottleneckConfig(long seed) {
        return new BottleneckConfig(size() == null ? NEO_RANK : size(), BottleneckConfig.Placement.parse(placement), seed);
    }

    /** For the run's fingerprint and report: the adapters a run trains, with {@code defaultRank} when no rank was given (null: none). */
    public String describe(Integer defaultRank) {
        if (bottleneck()) return "bottleneck size=" + bottleneckConfig(0).size() + " placement=" + placement;
        Integer r = size() != null ? size() : defaultRank;
        return r == null ? "none" : "r=" + r + " alpha=" + alpha + " dropout=" + dropout + " targets="
                + String.join(",", targets) + " rslora=" + rsLora + " lora-plus=" + loraPlus;
    }
}
