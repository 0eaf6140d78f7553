package dev.retort.distill.cache;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The root table of one FlatBuffer, read with every offset checked against the buffer's bounds before use.
 * The Java FlatBuffers runtime has no verifier and trusts every offset; a cache file is untrusted input, so a
 * damaged one must give a clear error rather than garbage or an exception from deep inside a ByteBuffer.
 *
 * <p>FlatBuffers layout, as far as these reads need it (all little-endian): the buffer starts with a uint32
 * offset to the root table. A table starts with an int32 that, subtracted from the table's position, gives its
 * vtable: uint16 vtable size, uint16 table size, then one uint16 per field id with the field's offset inside
 * the table (0 = absent, read as the default). A vector or string field holds a uint32 offset, relative to the
 * field, to a uint32 element count followed by the elements. Only absolute reads are used, so one instance may
 * be shared between threads.
 */
final class CheckedTable {
    private final ByteBuffer buffer; // [0, limit) is the FlatBuffer, little-endian
    private final Path file;
    private final String what;       // names the buffer in messages, e.g. "block 3 (at byte 4096)"
    private final int table;
    private final int vtable;
    private final int vtableSize;
    private final int tableSize;

    /** A vector field: {@code length} elements starting at byte {@code position} of the buffer. */
    record Vector(int position, int length) {}

    private CheckedTable(ByteBuffer buffer, Path file, String what) {
        this.buffer = buffer.order(ByteOrder.LITTLE_ENDIAN);
        this.file = file;
        this.what = what;
        int limit = buffer.limit();
        if (limit < 8) throw corrupt("only " + limit + " bytes, too short for a FlatBuffer");
        this.table = checkedPosition(uint32(0), 4, "the root table offset");
        long vt = (long) table - buffer.getInt(table);
        if (vt < 0 || vt > limit - 4) throw corrupt("its vtable offset points outside the buffer");
        this.vtable = (int) vt;
        this.vtableSize = Short.toUnsignedInt(buffer.getShort(vtable));
        this.tableSize = Short.toUnsignedInt(buffer.getShort(vtable + 2));
        if (vtableSize < 4 || (vtableSize & 1) != 0 || vtable + vtableSize > limit) {
            throw corrupt("vtable size " + vtableSize + " is not valid here");
        }
        if (tableSize < 4 || (long) table + tableSize > limit) {
            throw corrupt("table size " + tableSize + " runs past the end of the buffer");
        }
    }

    /** The root table of the FlatBuffer in {@code buffer[0, limit)}; {@code what} names it in errors. */
    static CheckedTable root(ByteBuffer buffer, Path file, String what) {
        return new CheckedTable(buffer, file, what);
    }

    ByteBuffer buffer() {
        return buffer;
    }

    int getInt(int id, int defaultValue) {
        int field = field(id, 4);
        return field == 0 ? defaultValue : buffer.getInt(field);
    }

    long getLong(int id, long defaultValue) {
        int field = field(id, 8);
        return field == 0 ? defaultValue : buffer.getLong(field);
    }

    float getFloat(int id, float defaultValue) {
        int field = field(id, 4);
        return field == 0 ? defaultValue : buffer.getFloat(field);
    }

    /** A string field, or null when absent. Invalid UTF-8 is an error. */
    String getString(int id, String name) {
        Vector bytes = vector(id, 1, name);
        if (bytes == null) return null;
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(buffer.slice(bytes.position(), bytes.length()))
                    .toString();
        } catch (CharacterCodingException e) {
            throw corrupt(name + " is not valid UTF-8");
        }
    }

    /** A vector field of {@code elementSize}-byte elements, its whole extent inside the buffer; null when absent. */
    Vector vector(int id, int elementSize, String name) {
        int field = field(id, 4);
        if (field == 0) return null;
        int start = checkedPosition((long) field + uint32(field), 4, name + "'s offset");
        long length = uint32(start);
        long end = start + 4 + length * elementSize;
        if (end > buffer.limit()) {
            throw corrupt(name + " claims " + length + " elements, which run past the end of the buffer");
        }
        return new Vector(start + 4, (int) length);
    }

    /** A one-line error naming the file and this buffer. */
    TeacherCacheException corrupt(String problem) {
        return new TeacherCacheException(file, what + " is corrupt: " + problem);
    }

    /** Byte position of field {@code id} of {@code size} bytes, or 0 when absent. */
    private int field(int id, int size) {
        int slot = 4 + 2 * id;
        if (slot + 2 > vtableSize) return 0; // written by an older schema: absent
        int offset = Short.toUnsignedInt(buffer.getShort(vtable + slot));
        if (offset == 0) return 0;
        if (offset < 4 || offset + size > tableSize) {
            throw corrupt("field " + id + " at offset " + offset + " lies outside its table of " + tableSize + " bytes");
        }
        return table + offset;
    }

    private long uint32(int position) {
        return Integer.toUnsignedLong(buffer.getInt(position));
    }

    /** {@code position} as an int, checked to leave {@code room} bytes before the end of the buffer. */
    private int checkedPosition(long position, int room, String name) {
        if (position < 0 || position > buffer.limit() - room) {
            throw corrupt(name + " points outside the buffer (" + position + " of " + buffer.limit() + " bytes)");
        }
        return (int) position;
    }
}
