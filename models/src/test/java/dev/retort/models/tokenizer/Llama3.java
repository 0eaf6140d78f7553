package dev.retort.models.tokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;

/** The Llama 3 tokenizer of the shared assets, read once for all test classes (its JSON is 9 MB). */
final class Llama3 {

    private static Tokenizer tokenizer;

    private Llama3() {}

    static synchronized Tokenizer tokenizer() {
        java.nio.file.Path dir = SharedAssets.resolve("llama3-tokenizer");
        if (tokenizer == null) {
            try {
                tokenizer = Tokenizers.load(dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tokenizer;
    }
}
