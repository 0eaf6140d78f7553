package dev.retort.cli;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/** A Hugging Face model directory opened for inference: config, weights read in place, tokenizer. */
final class LoadedModel implements AutoCloseable {
    final Path dir;
    final LlamaConfig config;
    final ModelWeights weights;
    final LlamaModel model;
    final Tokenizer tokenizer;
    private final Arena arena = Arena.ofShared();

    private LoadedModel(Path dir, boolean needWeights) {
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("--model " + dir + ": not a directory");
        this.dir = dir;
        try {
            this.tokenizer = Tokenizers.load(dir);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(dir + ": cannot read the tokenizer: " + e.getMessage(), e);
        }
        if (needWeights) {
            this.config = LlamaConfig.read(dir);
            this.weights = ModelWeights.open(dir);
            this.model = LlamaModel.load(config, weights, arena, false);
            if (tokenizer.vocabSize() > config.vocabSize()) {
                throw new IllegalArgumentException(dir + ": the tokenizer has " + tokenizer.vocabSize()
                        + " tokens but config.json says vocab_size " + config.vocabSize());
            }
        } else {
            this.config = null;
            this.weights = null;
            this.model = null;
        }
    }

    /** Config, weights and tokenizer. */
    static LoadedModel open(Path dir) {
        return new LoadedModel(dir, true);
    }

    /** The tokenizer only. */
    static LoadedModel tokenizerOnly(Path dir) {
        return new LoadedModel(dir, false);
    }

    @Override
    public void close() {
        if (weights != null) weights.close();
        arena.close();
    }
}
