package dev.retort.models.hf;

import java.nio.file.Path;

/**
 * A model file (weights, index or config) that cannot be read or written. The message is one line that starts
 * with the file and says what is wrong with it, so it can be shown to a user as it is.
 */
public final class ModelFileException extends RuntimeException {
    private final transient Path file;
    private final String problem;

    public ModelFileException(Path file, String problem) {
        this(file, problem, null);
    }

    public ModelFileException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
        this.problem = problem;
    }

    /** The file at fault, as the caller named it. */
    public Path file() {
        return file;
    }

    /** What is wrong, without the file name. */
    public String problem() {
        return problem;
    }
}
