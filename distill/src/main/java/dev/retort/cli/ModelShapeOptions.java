package dev.retort.cli;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.tensor.DType;
import java.util.List;
import picocli.CommandLine.Option;

/** The Llama shape flags shared by the benchmark commands (defaults: the stories15M model). */
final class ModelShapeOptions {
    @Option(names = "--dim", defaultValue = "288", description = "Hidden size (default ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--layers", defaultValue = "6", description = "Decoder layers (default ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--heads", defaultValue = "6", description = "Attention heads (default ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--kv-heads", defaultValue = "6", description = "Key/value heads (default ${DEFAULT-VALUE}).")
    int kvHeads;

    @Option(names = "--hidden", defaultValue = "768", description = "MLP width (default ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--vocab", defaultValue = "32000", description = "Vocabulary size (default ${DEFAULT-VALUE}).")
    int vocab;

    @Option(names = "--seq", defaultValue = "256", description = "Sequence length (default ${DEFAULT-VALUE}).")
    int seq;

    @Option(names = "--batch", defaultValue = "8", description = "Batch size (default ${DEFAULT-VALUE}).")
    int batch;

    /** A Llama config of this shape with {@code layerCount} layers (RoPE θ 10⁴, RMSNorm ε 10⁻⁵). */
    LlamaConfig config(int layerCount, boolean tied, int maxPositions) {
        if (dim % heads != 0) throw new IllegalArgumentException("--dim " + dim + " is not a multiple of --heads " + heads);
        if (heads % kvHeads != 0) throw new IllegalArgumentException("--heads " + heads + " is not a multiple of --kv-heads " + kvHeads);
        for (int v : new int[] {dim, layerCount, heads, kvHeads, hidden, vocab, seq, batch}) {
            if (v < 1) throw new IllegalArgumentException("model shape values must be positive");
        }
        return new LlamaConfig(dim, hidden, layerCount, heads, kvHeads, dim / heads, vocab, maxPositions, 1e-5, 10000.0,
                null, tied, 1, List.of(2), false, false, DType.F32);
    }
}
