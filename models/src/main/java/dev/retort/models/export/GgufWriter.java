package dev.retort.models.export;

import dev.retort.models.hf.AtomicFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF version 3 file, little-endian, laid out as gguf-py's {@code GGUFWriter} lays it out:
 *
 * <pre>
 *   u32 magic "GGUF" · u32 version 3 · u64 tensor count · u64 key/value count
 *   key/value pairs, in the order they were put: string key · u32 value type · value
 *   tensor infos, in the order they were added: string name · u32 n_dims · u64 dims[n_dims] (ggml order, the
 *       row length first) · u32 ggml type · u64 offset of the data from the start of the data section
 *   zero padding to {@value #ALIGNMENT} bytes, then each tensor's data followed by zero padding to {@value #ALIGNMENT}
 * </pre>
 *
 * A string is a u64 byte length and its UTF-8 bytes (no terminator); an array is a u32 element type, a u64 count
 * and the elements. Metadata is kept in memory; a tensor's bytes are asked for only while the file is written,
 * one tensor at a time, so a writer holds at most one encoded tensor. The write is atomic like
 * {@link dev.retort.models.hf.SafetensorsWriter}'s: a temporary sibling, forced to disk, renamed over the target.
 */
public final class GgufWriter {
    /** "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int VERSION = 3;
    /** Data alignment in bytes (GGUF's default; llama.cpp reads {@code general.alignment} when it differs). */
    public static final int ALIGNMENT = 32;

    /** GGUF metadata value types, with their numbers in the file. */
    public enum ValueType {
        UINT8(0), INT8(1), UINT16(2), INT16(3), UINT32(4), INT32(5), FLOAT32(6), BOOL(7), STRING(8), ARRAY(9),
        UINT64(10), INT64(11), FLOAT64(12);

        public final int id;

        ValueType(int id) { this.id = id; }
    }

    /** The ggml tensor types this writer produces: elements per block and bytes per block. */
    public enum TensorType {
        F32(0, 1, 4), F16(1, 1, 2), Q8_0(8, Q8Blocks.BLOCK, Q8Blocks.BLOCK_BYTES);

        public final int id;
        public final int blockElements;
        public final int blockBytes;

        TensorType(int id, int blockElements, int blockBytes) {
            this.id = id;
            this.blockElements = blockElements;
            this.blockBytes = blockBytes;
        }

        /** Bytes of {@code elements} values (a whole number of blocks). */
        public long bytes(long elements) {
            if (elements % blockElements != 0) {
                throw new IllegalArgumentException(this + " needs a multiple of " + blockElements + " elements, got " + elements);
            }
            return Math.multiplyExact(elements / blockElements, (long) blockBytes);
        }
    }

    /** Produces a tensor's encoded bytes (exactly its type's size for its dims) in {@code arena}, when written. */
    @FunctionalInterface
    public interface TensorData {
        MemorySegment encode(Arena arena);
    }

    private record Tensor(String name, TensorType type, long[] dims, long bytes, TensorData data) {}

    private final Map<String, byte[]> values = new LinkedHashMap<>();   // key -> u32 type + value, encoded
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    // ---- metadata -------------------------------------------------------------------------------------

    public GgufWriter putString(String key, String value) {
        return put(key, new Bytes().u32(ValueType.STRING.id).string(value));
    }

    public GgufWriter putUint32(String key, long value) {
        if (value < 0 || value > 0xffff_ffffL) throw new IllegalArgumentException(key + ": " + value + " is not a u32");
        return put(key, new Bytes().u32(ValueType.UINT32.id).u32((int) value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, new Bytes().u32(ValueType.FLOAT32.id).f32(value));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, new Bytes().u32(ValueType.BOOL.id).u8(value ? 1 : 0));
    }

    /** An array of strings, each given as its raw bytes (token texts need not be valid UTF-8). */
    public GgufWriter putStringArray(String key, List<byte[]> strings) {
        Bytes b = new Bytes().u32(ValueType.ARRAY.id).u32(ValueType.STRING.id).u64(strings.size());
        for (byte[] s : strings) b.u64(s.length).raw(s);
        return put(key, b);
    }

    public GgufWriter putFloat32Array(String key, float[] array) {
        Bytes b = new Bytes().u32(ValueType.ARRAY.id).u32(ValueType.FLOAT32.id).u64(array.length);
        for (float f : array) b.f32(f);
        return put(key, b);
    }

    public GgufWriter putInt32Array(String key, int[] array) {
        Bytes b = new Bytes().u32(ValueType.ARRAY.id).u32(ValueType.INT32.id).u64(array.length);
        for (int i : array) b.u32(i);
        return put(key, b);
    }

    private GgufWriter put(String key, Bytes encodedValue) {
        if (key == null || key.isEmpty()) throw new IllegalArgumentException("a GGUF key must not be empty");
        if (values.containsKey(key)) throw new IllegalArgumentException("GGUF key '" + key + "' is already set");
        values.put(key, encodedValue.toByteArray());
        return this;
    }

    // ---- tensors --------------------------------------------------------------------------------------

    /**
     * Adds a tensor; {@code dims} in ggml order (for a [rows × columns] row-major matrix: {columns, rows}), and
     * the row length must be a whole number of the type's blocks.
     */
    public GgufWriter addTensor(String name, TensorType type, long[] dims, TensorData data) {
        if (tensors.containsKey(name)) throw new IllegalArgumentException("GGUF tensor '" + name + "' is already added");
        if (dims.length == 0 || dims.length > 4) throw new IllegalArgumentException(name + ": GGUF tensors have 1 to 4 dims");
        if (dims[0] % type.blockElements != 0) {
            throw new IllegalArgumentException(name + ": a row of " + dims[0] + " is not a whole number of " + type + " blocks");
        }
        long elements = 1;
        for (long d : dims) {
            if (d <= 0) throw new IllegalArgumentException(name + ": dims must be positive");
            elements = Math.multiplyExact(elements, d);
        }
        tensors.put(name, new Tensor(name, type, dims.clone(), type.bytes(elements), data));
        return this;
    }

    // ---- writing --------------------------------------------------------------------------------------

    /** Writes the file atomically; an existing {@code file} is replaced only once the new one is complete. */
    public void write(Path file) {
        byte[] head = headerBytes();
        AtomicFile.write(file, out -> {
            writeFully(out, ByteBuffer.wrap(head));
            for (Tensor t : tensors.values()) {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment bytes = t.data().encode(arena);
                    if (bytes.byteSize() != t.bytes()) {
                        throw new IllegalStateException(t.name() + ": encoded " + bytes.byteSize() + " bytes, expected " + t.bytes());
                    }
                    writeFully(out, bytes.asByteBuffer());
                }
                writeFully(out, ByteBuffer.allocate(padding(t.bytes())));
            }
        });
    }

    /** Everything before the data section: header, key/values, tensor infos and the padding after them. */
    byte[] headerBytes() {
        Bytes b = new Bytes().u32(MAGIC).u32(VERSION).u64(tensors.size()).u64(values.size());
        for (Map.Entry<String, byte[]> kv : values.entrySet()) b.string(kv.getKey()).raw(kv.getValue());
        long offset = 0;
        for (Tensor t : tensors.values()) {
            b.string(t.name()).u32(t.dims().length);
            for (long d : t.dims()) b.u64(d);
            b.u32(t.type().id).u64(offset);
            offset += t.bytes() + padding(t.bytes());
        }
        b.raw(new byte[padding(b.size())]);
        return b.toByteArray();
    }

    /** Zero bytes that bring {@code length} up to a multiple of {@link #ALIGNMENT}. */
    static int padding(long length) {
        return (int) ((ALIGNMENT - length % ALIGNMENT) % ALIGNMENT);
    }

    /** Key names in the order they will be written. */
    public List<String> keys() {
        return new ArrayList<>(values.keySet());
    }

    private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
        AtomicFile.writeFully(out, buffer);
    }

    /** A little-endian byte builder for the metadata part of the file. */
    private static final class Bytes {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        Bytes u8(int v) { out.write(v); return this; }
        Bytes u32(int v) { return raw(scratch.clear().putInt(v).array(), 4); }
        Bytes u64(long v) { return raw(scratch.clear().putLong(v).array(), 8); }
        Bytes f32(float v) { return u32(Float.floatToRawIntBits(v)); }
        Bytes string(String s) { byte[] utf8 = s.getBytes(StandardCharsets.UTF_8); return u64(utf8.length).raw(utf8); }
        Bytes raw(byte[] bytes) { return raw(bytes, bytes.length); }
        Bytes raw(byte[] bytes, int length) { out.write(bytes, 0, length); return this; }
        int size() { return out.size(); }
        byte[] toByteArray() { return out.toByteArray(); }
    }
}
