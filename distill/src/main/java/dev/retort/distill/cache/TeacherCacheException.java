package dev.retort.distill.cache;

import java.nio.file.Path;

/**
 * A teacher cache file that cannot be written or read: corrupt, cut short, of another format version, or made
 * for another vocabulary than the caller's. The message is one line that starts with the file and says what
 * is wrong, so it can be shown to a user as it is.
 */
public final class TeacherCacheException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String problem;

    public TeacherCacheException(Path file, String problem) {
        this(file, problem, null);
    }

    public TeacherCacheException(Path file, String problem, Throwable cause) {
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
