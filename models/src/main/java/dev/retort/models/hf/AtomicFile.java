package dev.retort.models.hf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a model file whole or not at all: into a hidden temporary file beside it, forced to disk, then renamed
 * over the target atomically and the directory synced; on any failure the temporary file is removed and an
 * existing target is untouched. Failures are one {@link ModelFileException} naming the file.
 */
public final class AtomicFile {
    private AtomicFile() {}

    /** What writes the contents, into a channel positioned at 0. */
    @FunctionalInterface
    public interface Contents {
        void writeTo(FileChannel out) throws IOException;
    }

    public static void write(Path file, Contents contents) {
        Path dir = file.toAbsolutePath().getParent();
        Path temp = dir.resolve("." + file.getFileName() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        boolean moved = false;
        try {
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                contents.writeTo(out);
                out.force(true);
            }
            try {
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new ModelFileException(file, "the file system cannot rename atomically, so the file cannot be "
                        + "replaced safely", e);
            }
            moved = true;
            syncDirectory(dir);
        } catch (IOException e) {
            throw new ModelFileException(file, "cannot write: " + e, e);
        } finally {
            if (!moved) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException ignored) {
                    // The original failure matters more; a leftover hidden .tmp file is harmless.
                }
            }
        }
    }

    /** Writes all of {@code buffer}. */
    public static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) out.write(buffer);
    }

    /** Makes a rename durable; some platforms cannot open a directory, and then the rename must do. */
    public static void syncDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Best effort: the data itself is already on disk.
        }
    }
}
