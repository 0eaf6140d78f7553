package dev.retort.models.tokenizer;

import java.io.IOException;
import java.nio.file.Path;

/** A tokenizer file that is missing, corrupt, or asks for something Retort does not implement. */
public final class TokenizerFileException extends IOException {

    private static final long serialVersionUID = 1L;

    public TokenizerFileException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public TokenizerFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
