package dev.retort.models;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Reading a file a user names (a config, a tokenizer, a data file) whole into memory, safely: only a regular
 * file (a link to {@code /dev/zero} would fill the heap and a FIFO would block forever), and only up to a
 * stated size, so that what a file says cannot decide how much Retort allocates. Every refusal is handed to the
 * caller's {@link Refusal}, so each loader keeps its own one documented exception type and the checks are
 * written once.
 */
public final class InputFiles {
    /** The caller's exception for a file that cannot be read; {@code problem} does not repeat the file. */
    @FunctionalInterface
    public interface Refusal<E extends Exception> {
        E refuse(Path file, String problem);
    }

    /** Bound for the small JSON files of a model directory (config.json, indexes, tokenizer_config.json). */
    public static final long JSON_CONFIG_BYTES = 16L << 20;
    /** Bound for tokenizer.json and tokenizer.model (the largest released ones are about 35 MB). */
    public static final long TOKENIZER_BYTES = 128L << 20;
    /**
     * Bound for a training or evaluation data file read whole: its text and its tokens live on the heap, which
     * the launcher bounds at 1 GiB.
     */
    public static final long DATA_BYTES = 256L << 20;

    private InputFiles() {}

    /** Refuses a path that is missing or is not a regular file (a directory, device or FIFO), following links. */
    public static <E extends Exception> void requireRegularFile(Path file, Refusal<E> refusal) throws E {
        if (Files.isRegularFile(file)) return;
        if (!Files.exists(file)) throw refusal.refuse(file, "file not found");
        throw refusal.refuse(file, "is not a regular file (" + (Files.isDirectory(file) ? "a directory" : "a device, pipe or socket")
                + "); expected a file");
    }

    /** The bytes of a regular file of at most {@code maxBytes}. */
    public static <E extends Exception> byte[] readBytes(Path file, long maxBytes, Refusal<E> refusal) throws E {
        requireRegularFile(file, refusal);
        try {
            long size = Files.size(file);
            if (size > maxBytes) throw refusal.refuse(file, tooLarge(size + " bytes", maxBytes));
            try (InputStream in = Files.newInputStream(file)) {
                // One byte past the bound: a file that grew since its size was read is refused, never read on.
                byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
                if (bytes.length > maxBytes) throw refusal.refuse(file, tooLarge("more than " + maxBytes + " bytes", maxBytes));
                return bytes;
            }
        } catch (NoSuchFileException e) {
            throw refusal.refuse(file, "file not found");
        } catch (IOException e) {
            throw refusal.refuse(file, "cannot read: " + e.getMessage());
        }
    }

    /** The text of a regular UTF-8 file of at most {@code maxBytes}; a byte sequence that is not UTF-8 is refused. */
    public static <E extends Exception> String readUtf8(Path file, long maxBytes, Refusal<E> refusal) throws E {
        byte[] bytes = readBytes(file, maxBytes, refusal);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw refusal.refuse(file, "is not UTF-8 text; convert it to UTF-8 first");
        }
    }

    private static String tooLarge(String size, long maxBytes) {
        return "is " + size + ", more than the " + mebibytes(maxBytes) + " Retort reads for this kind of file";
    }

    private static String mebibytes(long bytes) {
        return String.format(Locale.ROOT, "%d MiB", bytes >> 20);
    }
}
