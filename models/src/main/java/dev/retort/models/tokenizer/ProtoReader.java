package dev.retort.models.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * Reads protobuf wire format, just enough for SentencePiece's {@code ModelProto}: varints, 32-bit floats,
 * length-delimited strings and messages, and skipping fields it does not need. Errors are
 * {@link IllegalStateException}s saying where the bytes went wrong; the caller names the file.
 */
final class ProtoReader {

    static final int VARINT = 0;
    static final int FIXED64 = 1;
    static final int LENGTH_DELIMITED = 2;
    static final int FIXED32 = 5;

    private final byte[] bytes;
    private int position;
    private final int limit;

    ProtoReader(byte[] bytes) {
        this(bytes, 0, bytes.length);
    }

    private ProtoReader(byte[] bytes, int start, int limit) {
        this.bytes = bytes;
        this.position = start;
        this.limit = limit;
    }

    boolean hasMore() {
        return position < limit;
    }

    /** The next field's tag: field number shifted left by 3, or'd with the wire type. */
    int readTag() {
        long tag = readVarint();
        if (tag <= 0 || tag > Integer.MAX_VALUE || (tag >>> 3) == 0) {
            throw new IllegalStateException("invalid field tag " + tag + " before byte " + position);
        }
        return (int) tag;
    }

    long readVarint() {
        long value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            byte b = next();
            value |= (long) (b & 0x7F) << shift;
            if (b >= 0) {
                return value;
            }
        }
        throw new IllegalStateException("varint longer than 10 bytes before byte " + position);
    }

    float readFloat() {
        int bits = (next() & 0xFF) | (next() & 0xFF) << 8 | (next() & 0xFF) << 16 | (next() & 0xFF) << 24;
        return Float.intBitsToFloat(bits);
    }

    String readString() {
        int length = readLength();
        String text = new String(bytes, position, length, StandardCharsets.UTF_8);
        position += length;
        return text;
    }

    /** The embedded message or bytes field that follows, as its own reader. */
    ProtoReader readMessage() {
        int length = readLength();
        ProtoReader message = new ProtoReader(bytes, position, position + length);
        position += length;
        return message;
    }

    /** Skips a length-delimited field and returns its length (for fields only checked for presence). */
    int readLengthOnly() {
        int length = readLength();
        position += length;
        return length;
    }

    void skip(int wireType) {
        switch (wireType) {
            case VARINT -> readVarint();
            case FIXED64 -> advance(8);
            case LENGTH_DELIMITED -> advance(readLength());
            case FIXED32 -> advance(4);
            default -> throw new IllegalStateException("unsupported wire type " + wireType + " before byte " + position);
        }
    }

    private int readLength() {
        long length = readVarint();
        if (length < 0 || length > limit - position) {
            throw new IllegalStateException("length " + length + " at byte " + position + " runs past the end ("
                    + limit + ")");
        }
        return (int) length;
    }

    private void advance(int count) {
        if (count > limit - position) {
            throw new IllegalStateException("field at byte " + position + " runs past the end (" + limit + ")");
        }
        position += count;
    }

    private byte next() {
        if (position >= limit) {
            throw new IllegalStateException("truncated at byte " + position);
        }
        return bytes[position++];
    }
}
