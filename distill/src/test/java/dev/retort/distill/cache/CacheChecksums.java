package dev.retort.distill.cache;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * The teacher cache's checksum computed from its documented definition (teacher_cache.fbs), independently of
 * the reader: tests that damage a cache on purpose to reach the reader's structural checks re-seal it first,
 * or the checksum would catch the damage before those checks run.
 */
public final class CacheChecksums {
    private CacheChecksums() {}

    /** CRC-32C of [12 + M padded to 8, index) then [0, 12 + M padded to 8). */
    public static long compute(ByteBuffer b) {
        long dataStart = (12 + Integer.toUnsignedLong(b.getInt(8)) + 7) & -8;
        long indexOffset = b.getLong(b.limit() - 12);
        CRC32C crc = new CRC32C();
        crc.update(b.duplicate().position((int) dataStart).limit((int) indexOffset));
        crc.update(b.duplicate().position(0).limit((int) dataStart));
        return crc.getValue();
    }

    /**
     * Writes the checksum of the bytes as they are now into the index's checksum field (id 2), when the header
     * and trailer still locate the index and the field; otherwise leaves the bytes alone.
     */
    public static void reseal(ByteBuffer b) {
        try {
            long indexOffset = b.getLong(b.limit() - 12);
            long dataStart = (12 + Integer.toUnsignedLong(b.getInt(8)) + 7) & -8;
            if (indexOffset < dataStart || indexOffset > b.limit() - 16) return;
            int base = (int) indexOffset + 4;
            int root = base + b.getInt(base);
            int vtable = root - b.getInt(root);
            int vtableSize = Short.toUnsignedInt(b.getShort(vtable));
            if (vtableSize < 4 + 2 * 3) return;
            int offset = Short.toUnsignedInt(b.getShort(vtable + 4 + 2 * 2));
            if (offset == 0) return;
            b.putLong(root + offset, compute(b));
        } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
            // The damage left nothing to re-seal; the reader's own checks will speak.
        }
    }

    public static void reseal(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        reseal(b);
        Files.write(file, b.array());
    }
}
