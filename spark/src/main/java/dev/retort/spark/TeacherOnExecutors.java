package dev.retort.spark;

import dev.retort.distill.cache.CacheHashes;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;

/**
 * The model every executor opens, as the driver read it: its path and adapter as the user gave them (the same on
 * every machine) and its vocabulary, by which an executor checks that it found the same model there.
 *
 * @param path            the model directory or GGUF file
 * @param adapter         the adapter directory, or null
 * @param vocabSize       the model's vocabulary size
 * @param vocabularyHash  {@link CacheHashes#vocabulary} of its tokenizer
 */
record TeacherOnExecutors(String path, String adapter, int vocabSize, String vocabularyHash) implements Serializable {
    /** The model at {@code path} (with {@code adapter}, or null), read on the driver. */
    static TeacherOnExecutors read(Path path, Path adapter) throws IOException {
        return new TeacherOnExecutors(path.toString(), adapter == null ? null : adapter.toString(),
                LlamaConfig.read(path).vocabSize(), CacheHashes.vocabulary(Tokenizers.load(path)));
    }
}
