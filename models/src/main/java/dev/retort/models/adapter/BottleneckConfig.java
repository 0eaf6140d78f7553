package dev.retort.models.adapter;

import java.util.Locale;

/**
 * The shape of bottleneck adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"): their
 * width, where they sit in each decoder layer, and the seed of their initialisation.
 *
 * <p>Each adapter maps a sub-block's output h [..., C] to {@code h + W_up·silu(W_down·h + b_down) + b_up}, with
 * W_down [size × C] and W_up [C × size] ({@link BottleneckAdapter}).
 *
 * @param size      the bottleneck width (the adapter's hidden size), at least 1
 * @param placement after the attention block's output, after the MLP's output, or both (Houlsby's choice)
 * @param seed      seeds W_down's initialisation
 */
public record BottleneckConfig(int size, Placement placement, long seed) {

    /** Where a decoder layer gets adapters: on the output of its attention block, its MLP, or both. */
    public enum Placement {
        ATTENTION, MLP, BOTH;

        /** attention, mlp or both, as the command line and {@code adapter_config.json} spell it. */
        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The placement named {@code name} (attention, mlp or both), or an error listing them. */
        public static Placement parse(String name) {
            for (Placement p : values()) {
                if (p.cliName().equals(name)) return p;
            }
            throw new IllegalArgumentException("unknown bottleneck adapter placement '" + name + "'; expected attention, mlp or both");
        }

        public boolean attention() { return this != MLP; }

        public boolean mlp() { return this != ATTENTION; }
    }

    public BottleneckConfig {
        if (size < 1) throw new IllegalArgumentException("bottleneck adapter size must be at least 1, got " + size);
        if (placement == null) throw new IllegalArgumentException("bottleneck adapter placement is missing");
    }

    /** Adapters of width {@code size} after both blocks, seed 0. */
    public static BottleneckConfig of(int size) {
        return new BottleneckConfig(size, Placement.BOTH, 0);
    }

    public BottleneckConfig withPlacement(Placement p) {
        return new BottleneckConfig(size, p, seed);
    }

    public BottleneckConfig withSeed(long newSeed) {
        return new BottleneckConfig(size, placement, newSeed);
    }
}
