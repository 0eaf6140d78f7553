package dev.retort.models;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * The checksum Retort's own files carry (training checkpoints, teacher caches): CRC-32C, which the JDK computes
 * with the CPU's CRC instructions, over byte ranges of any length (a {@link ByteBuffer} view stops at 2 GiB, so
 * larger memory is fed in pieces). A reader recomputes it over the same ranges in the same order and refuses
 * the file when the two differ.
 */
public final class Crc32c {
    private static final long PIECE_BYTES = 1L << 30;
    private static final ByteBuffer ZEROS = ByteBuffer.allocate(4096).asReadOnlyBuffer();
    private final CRC32C crc = new CRC32C();

    public Crc32c update(String text) {
        crc.update(text.getBytes(StandardCharsets.UTF_8));
        return this;
    }

    /** Adds the remaining bytes of {@code bytes}, leaving its position where it was. */
    public Crc32c update(ByteBuffer bytes) {
        crc.update(bytes.duplicate());
        return this;
    }

    public Crc32c update(MemorySegment bytes) {
        for (long at = 0; at < bytes.byteSize(); at += PIECE_BYTES) {
            crc.update(bytes.asSlice(at, Math.min(PIECE_BYTES, bytes.byteSize() - at)).asByteBuffer());
        }
        return this;
    }

    /** Adds {@code count} zero bytes (alignment padding a file holds as zeros). */
    public Crc32c updateZeros(long count) {
        for (long left = count; left > 0; left -= ZEROS.capacity()) {
            crc.update(ZEROS.duplicate().limit((int) Math.min(left, ZEROS.capacity())));
        }
        return this;
    }

    /** The checksum so far, in [0, 2³²). */
    public long value() {
        return crc.getValue();
    }
}
