package dev.retort.distill.cache;

/**
 * The fixed framing around a teacher cache's FlatBuffers (all integers little-endian; offsets from the start
 * of the file). See teacher_cache.fbs for the whole picture.
 *
 * <pre>
 *   0          "RTKC"                      magic
 *   4          uint32 version              {@link #VERSION}
 *   8          uint32 M                    metadata FlatBuffer length
 *   12         metadata FlatBuffer         M bytes, zero padded to a multiple of 8
 *   ...        blocks                      size-prefixed SequenceBlock FlatBuffers, each at a multiple of 8
 *   index      size-prefixed BlockIndex    at a multiple of 8
 *   end - 12   uint64 index offset
 *   end - 4    "RTKE"                      end marker
 * </pre>
 *
 * <p>Version 2 adds the block index's {@code checksum}: the CRC-32C of the blocks, [header + metadata, index),
 * followed by the header and metadata, [0, header + metadata) — blocks first, because the writer sums each
 * block as it writes it and knows the final metadata (the counts) only at the end. Padding counts as the zeros
 * it reads as. Version 1 files, which have no checksum, are still read.
 */
final class CacheFileLayout {
    /** "RTKC" read as a little-endian int. */
    static final int MAGIC = 'R' | 'T' << 8 | 'K' << 16 | 'C' << 24;
    /** "RTKE" read as a little-endian int: the file's last four bytes once it is complete. */
    static final int END_MARKER = 'R' | 'T' << 8 | 'K' << 16 | 'E' << 24;
    static final int VERSION = 2;
    /** The last version without a checksum. */
    static final int VERSION_WITHOUT_CHECKSUM = 1;
    /** Magic, version and metadata length. */
    static final int HEADER_BYTES = 12;
    /** Index offset and end marker. */
    static final int TRAILER_BYTES = 12;
    /** Blocks and the index start at multiples of this, so that their FlatBuffers' aligned fields stay aligned. */
    static final int ALIGNMENT = 8;

    private CacheFileLayout() {}

    /** The file's checksum as defined above, for a file whose blocks span [dataStart, indexOffset). */
    static long checksum(java.lang.foreign.MemorySegment file, long dataStart, long indexOffset) {
        return new dev.retort.models.Crc32c().update(file.asSlice(dataStart, indexOffset - dataStart))
                .update(file.asSlice(0, dataStart)).value();
    }

    static long align(long position) {
        return (position + ALIGNMENT - 1) & -ALIGNMENT;
    }

    /** The four bytes of a little-endian int as text, for messages ("RTKC", or hex when not printable). */
    static String fourBytes(int word) {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            int c = (word >>> (8 * i)) & 0xff;
            if (c < 0x20 || c > 0x7e) return String.format("0x%02x%02x%02x%02x",
                    word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24);
            text.append((char) c);
        }
        return "\"" + text + "\"";
    }
}
