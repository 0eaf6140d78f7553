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
 */
final class CacheFileLayout {
    /** "RTKC" read as a little-endian int. */
    static final int MAGIC = 'R' | 'T' << 8 | 'K' << 16 | 'C' << 24;
    /** "RTKE" read as a little-endian int: the file's last four bytes once it is complete. */
    static final int END_MARKER = 'R' | 'T' << 8 | 'K' << 16 | 'E' << 24;
    static final int VERSION = 1;
    /** Magic, version and metadata length. */
    static final int HEADER_BYTES = 12;
    /** Index offset and end marker. */
    static final int TRAILER_BYTES = 12;
    /** Blocks and the index start at multiples of this, so that their FlatBuffers' aligned fields stay aligned. */
    static final int ALIGNMENT = 8;

    private CacheFileLayout() {}

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
