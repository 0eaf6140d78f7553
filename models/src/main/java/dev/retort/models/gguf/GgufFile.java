package dev.retort.models.gguf;

import dev.retort.models.InputFiles;
import dev.retort.models.export.GgufWriter.ValueType;
import dev.retort.models.hf.ModelFileException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One GGUF file (version 2 or 3, little-endian), memory-mapped whole; its metadata parsed and every tensor info
 * validated before anything is handed out. The layout (as {@link dev.retort.models.export.GgufWriter} writes it):
 *
 * <pre>
 *   u32 magic "GGUF" · u32 version · u64 tensor count · u64 key/value count
 *   key/value pairs: string key · u32 value type · value
 *   tensor infos: string name · u32 n_dims · u64 dims[n_dims] (row length first) · u32 ggml type · u64 offset
 *   padding to the alignment (general.alignment, default 32), then the data section
 * </pre>
 *
 * <p>The file is untrusted, as a safetensors file is: every count, length, offset and type is checked against the
 * bytes that are there before it is used, so a damaged or hostile file fails with one {@link ModelFileException}
 * whose one-line message starts with the file, never with an overflow, an allocation it chose, or a read outside
 * the mapping. The rules: magic and version 2 or 3; counts no larger than the bytes left could hold and at most
 * {@value #MAX_COUNT}, and at most {@value #MAX_STRINGS} strings in all; strings inside the file (keys and tensor
 * names valid UTF-8, a tensor name at most {@value #MAX_NAME_BYTES} bytes as in ggml); known value types, no
 * arrays of arrays (llama.cpp reads none);
 * unique keys and names; general.alignment a u32 power of two; tensors with 1 to 4 dimensions, each 1 to
 * 2<sup>31</sup>−1, rows a whole number of their type's blocks, a known ggml type, an offset that is a multiple
 * of the alignment, data inside the file and no two tensors' bytes overlapping.
 *
 * <p>Values come back as Java objects: integers as {@link Long} (u64 as its bit pattern), FLOAT32 as
 * {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean}, STRING as {@link String} (keys strict UTF-8;
 * values decoded with U+FFFD for bytes that are not, since token texts need not be UTF-8), and arrays as
 * {@link Array}. The file must not change while it is mapped.
 */
public final class GgufFile implements AutoCloseable {
    /** "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int DEFAULT_ALIGNMENT = 32;
    /** ggml's GGML_MAX_NAME is 64 bytes with the terminator. */
    public static final int MAX_NAME_BYTES = 63;
    /** Upper bound on key/values, tensors and array elements: far above any real file (a 128k vocabulary's merges). */
    public static final long MAX_COUNT = 1L << 24;
    /**
     * Upper bound on the strings of the metadata, keys and array elements together (a Llama 3 file has about
     * 400 thousand): each costs some 40 bytes of heap for as little as 9 bytes of file, so this bounds what a
     * file of many tiny strings can make Retort allocate.
     */
    public static final long MAX_STRINGS = 1L << 23;
    /** ggml's GGML_MAX_DIMS. */
    public static final int MAX_DIMS = 4;

    /** A metadata value with its declared type. */
    public record Value(ValueType type, Object value) {}

    /**
     * An array value: {@code values} is a {@code long[]} for integer elements, {@code float[]}, {@code double[]},
     * {@code boolean[]} or {@code String[]}.
     */
    public record Array(ValueType elementType, Object values, int length) {}

    /**
     * One tensor as the file describes it.
     *
     * @param dims   ggml order: the row length first (a [rows × columns] matrix has dims {columns, rows})
     * @param offset from the start of the data section
     * @param bytes  the data's size, whole blocks of {@code type}
     */
    public record TensorEntry(String name, GgmlType type, long[] dims, long offset, long bytes) {
        public TensorEntry {
            dims = dims.clone();
        }

        @Override
        public long[] dims() {
            return dims.clone();
        }

        /** The shape in row-major order (dims reversed), as Retort's tensors have it. */
        public int[] shape() {
            int[] shape = new int[dims.length];
            for (int i = 0; i < dims.length; i++) shape[i] = (int) dims[dims.length - 1 - i];
            return shape;
        }

        public long elements() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }

        @Override
        public String toString() {
            return name + " " + type + Arrays.toString(dims) + " @" + offset;
        }
    }

    private final Path path;
    private final int version;
    private final int alignment;
    private final long dataStart;
    private final Map<String, Value> metadata;
    private final Map<String, TensorEntry> tensors;
    private final MemorySegment data;
    private final Arena ownArena;
    private boolean closed;

    private GgufFile(Path path, int version, int alignment, long dataStart, Map<String, Value> metadata,
                     Map<String, TensorEntry> tensors, MemorySegment data, Arena ownArena) {
        this.path = path;
        this.version = version;
        this.alignment = alignment;
        this.dataStart = dataStart;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
        this.data = data;
        this.ownArena = ownArena;
    }

    /** Whether {@code path} is a regular file that starts with the GGUF magic (whatever its name). */
    public static boolean isGguf(Path path) {
        if (!Files.isRegularFile(path)) return false;
        try (InputStream in = Files.newInputStream(path)) {
            byte[] head = in.readNBytes(4);
            return head.length == 4 && head[0] == 'G' && head[1] == 'G' && head[2] == 'U' && head[3] == 'F';
        } catch (IOException e) {
            return false;
        }
    }

    /** Opens, maps and validates {@code path} in an arena of its own, unmapped by {@link #close()}. */
    public static GgufFile open(Path path) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ModelFileException(path, "GGUF data is little-endian and this machine is not");
        }
        InputFiles.requireRegularFile(path, ModelFileException::new);
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < 24) throw new ModelFileException(path, "file is " + size + " bytes, shorter than the 24-byte GGUF header");
            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return new Parser(path, file, arena).parse();
        } catch (NoSuchFileException e) {
            arena.close();
            throw new ModelFileException(path, "file not found", e);
        } catch (AccessDeniedException e) {
            arena.close();
            throw new ModelFileException(path, "permission denied", e);
        } catch (IOException e) {
            arena.close();
            throw new ModelFileException(path, "cannot read: " + e, e);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Reads the header out of the mapping, checking every step against the file's size. */
    private static final class Parser {
        private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

        private final Path path;
        private final MemorySegment file;
        private final long size;
        private final Arena arena;   // owns the mapping; handed to the file on success
        private long at;
        private long strings;

        Parser(Path path, MemorySegment file, Arena arena) {
            this.path = path;
            this.file = file;
            this.size = file.byteSize();
            this.arena = arena;
        }

        GgufFile parse() {
            int magic = u32("the magic");
            if (magic != MAGIC) {
                throw error("does not start with the GGUF magic (found bytes " + hex(magic) + "); expected a GGUF file");
            }
            int version = u32("the version");
            if (version == 1) throw error("GGUF version 1 is not supported (only versions 2 and 3)");
            if (version != 2 && version != 3) {
                throw error("GGUF version " + Integer.toUnsignedString(version)
                        + (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3
                        ? " (a big-endian file?)" : "") + " is not supported (only versions 2 and 3)");
            }
            long tensorCount = count("tensor count", u64("the tensor count"), 8 + 4 + 8 + 4 + 8);
            long kvCount = count("key/value count", u64("the key/value count"), 8 + 4 + 1);

            Map<String, Value> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = strictString("key " + i + " of " + kvCount, Integer.MAX_VALUE);
                if (key.isEmpty()) throw error("key " + i + " is empty");
                int type = u32("the type of key " + quote(key));
                Value value = value("key " + quote(key), type);
                if (metadata.putIfAbsent(key, value) != null) throw error("key " + quote(key) + " appears twice");
            }
            int alignment = DEFAULT_ALIGNMENT;
            Value align = metadata.get("general.alignment");
            if (align != null) {
                if (align.type() != ValueType.UINT32) {
                    throw error("general.alignment is a " + align.type() + "; expected a UINT32");
                }
                long a = (Long) align.value();
                if (a == 0 || Long.bitCount(a) != 1) throw error("general.alignment " + a + " is not a power of two");
                if (a > 1 << 30) throw error("general.alignment " + a + " is larger than 2^30");
                alignment = (int) a;
            }

            List<TensorEntry> entries = new ArrayList<>();
            Map<String, TensorEntry> byName = new LinkedHashMap<>();
            for (long i = 0; i < tensorCount; i++) {
                String name = strictString("the name of tensor " + i + " of " + tensorCount, Integer.MAX_VALUE);
                if (name.isEmpty()) throw error("tensor " + i + " has an empty name");
                int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
                if (nameBytes > MAX_NAME_BYTES) {
                    throw error("tensor name " + quote(name) + " is " + nameBytes + " bytes, longer than ggml's "
                            + MAX_NAME_BYTES);
                }
                String field = "tensor " + quote(name);
                int nDims = u32("the dimension count of " + field);
                if (nDims < 1 || nDims > MAX_DIMS) {
                    throw error(field + " has " + Integer.toUnsignedString(nDims) + " dimensions; GGUF tensors have 1 to " + MAX_DIMS);
                }
                long[] dims = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    dims[d] = u64("dimension " + d + " of " + field);
                    if (dims[d] < 1 || dims[d] > Integer.MAX_VALUE) {
                        throw error(field + " has dimension " + Long.toUnsignedString(dims[d])
                                + "; expected 1 to 2147483647");
                    }
                }
                int typeId = u32("the type of " + field);
                GgmlType type = GgmlType.byId(Integer.toUnsignedLong(typeId));
                if (type == null) throw error(field + " has unknown ggml type " + Integer.toUnsignedString(typeId));
                long offset = u64("the offset of " + field);
                if (dims[0] % type.blockElements != 0) {
                    throw error(field + " has rows of " + dims[0] + " elements, not a whole number of " + type + " blocks of "
                            + type.blockElements);
                }
                long bytes;
                try {
                    long elements = 1;
                    for (long d : dims) elements = Math.multiplyExact(elements, d);
                    bytes = Math.multiplyExact(elements / type.blockElements, (long) type.blockBytes);
                } catch (ArithmeticException e) {
                    throw error(field + " dims " + Arrays.toString(dims) + " " + type + " overflow 64-bit sizes");
                }
                if (Long.remainderUnsigned(offset, alignment) != 0) {
                    throw error(field + " offset " + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
                }
                TensorEntry entry = new TensorEntry(name, type, dims, offset, bytes);
                if (byName.putIfAbsent(name, entry) != null) throw error("tensor " + quote(name) + " appears twice");
                entries.add(entry);
            }
            long dataStart = at + (alignment - at % alignment) % alignment;
            if (dataStart > size) {
                throw error("the data section would start at byte " + dataStart + ", past the end of the file (" + size + " bytes)");
            }
            long dataSize = size - dataStart;
            for (TensorEntry t : entries) {
                if (Long.compareUnsigned(t.offset(), dataSize) > 0 || t.bytes() > dataSize - t.offset()) {
                    throw error("tensor " + quote(t.name()) + " data [" + Long.toUnsignedString(t.offset()) + ", +" + t.bytes()
                            + ") runs past the end of the data section (" + dataSize + " bytes)");
                }
            }
            List<TensorEntry> byOffset = new ArrayList<>(entries);
            byOffset.sort(Comparator.comparingLong(TensorEntry::offset));
            for (int i = 1; i < byOffset.size(); i++) {
                TensorEntry a = byOffset.get(i - 1), b = byOffset.get(i);
                if (b.offset() < a.offset() + a.bytes()) {
                    throw error("tensor " + quote(b.name()) + " data at " + b.offset() + " overlaps tensor " + quote(a.name()) + " ["
                            + a.offset() + ", " + (a.offset() + a.bytes()) + ")");
                }
            }
            return new GgufFile(path, version, alignment, dataStart, metadata, byName, file.asSlice(dataStart), arena);
        }

        /** A count that the bytes left could hold at {@code minBytes} per item, and at most {@link #MAX_COUNT}. */
        private long count(String what, long n, long minBytes) {
            if (Long.compareUnsigned(n, MAX_COUNT) > 0) {
                throw error(what + " " + Long.toUnsignedString(n) + " exceeds Retort's limit of " + MAX_COUNT);
            }
            if (n > (size - at) / minBytes) {
                throw error(what + " " + n + " is more than the " + (size - at) + " bytes left in the file can hold");
            }
            return n;
        }

        private Value value(String field, int typeId) {
            ValueType type = valueType(field, typeId);
            return new Value(type, switch (type) {
                case UINT8 -> (long) (u8(field) & 0xff);
                case INT8 -> (long) (byte) u8(field);
                case UINT16 -> (long) (u16(field) & 0xffff);
                case INT16 -> (long) u16(field);
                case UINT32 -> Integer.toUnsignedLong(u32(field));
                case INT32 -> (long) u32(field);
                case UINT64, INT64 -> u64(field);
                case FLOAT32 -> Float.intBitsToFloat(u32(field));
                case FLOAT64 -> Double.longBitsToDouble(u64(field));
                case BOOL -> bool(field);
                case STRING -> lenientString(field);
                case ARRAY -> array(field);
            });
        }

        private ValueType valueType(String field, int typeId) {
            for (ValueType t : ValueType.values()) if (t.id == typeId) return t;
            throw error(field + " has unknown value type " + Integer.toUnsignedString(typeId));
        }

        private Array array(String field) {
            ValueType type = valueType(field + " (array element)", u32("the element type of " + field));
            if (type == ValueType.ARRAY) throw error(field + " is an array of arrays, which GGUF readers do not support");
            int width = switch (type) {
                case UINT8, INT8, BOOL -> 1;
                case UINT16, INT16 -> 2;
                case UINT32, INT32, FLOAT32 -> 4;
                case STRING, UINT64, INT64, FLOAT64 -> 8;
                case ARRAY -> throw new AssertionError();
            };
            int n = (int) count(field + " array length", u64("the length of " + field), width);
            switch (type) {
                case FLOAT32 -> {
                    float[] v = new float[n];
                    MemorySegment.copy(file, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), at, v, 0, n);
                    at += 4L * n;
                    return new Array(type, v, n);
                }
                case FLOAT64 -> {
                    double[] v = new double[n];
                    for (int i = 0; i < n; i++) v[i] = Double.longBitsToDouble(u64(field));
                    return new Array(type, v, n);
                }
                case BOOL -> {
                    boolean[] v = new boolean[n];
                    for (int i = 0; i < n; i++) v[i] = bool(field);
                    return new Array(type, v, n);
                }
                case STRING -> {
                    String[] v = new String[n];
                    for (int i = 0; i < n; i++) v[i] = lenientString(field + " element " + i);
                    return new Array(type, v, n);
                }
                default -> {
                    long[] v = new long[n];
                    for (int i = 0; i < n; i++) {
                        v[i] = switch (type) {
                            case UINT8 -> u8(field) & 0xff;
                            case INT8 -> (byte) u8(field);
                            case UINT16 -> u16(field) & 0xffff;
                            case INT16 -> u16(field);
                            case UINT32 -> Integer.toUnsignedLong(u32(field));
                            case INT32 -> u32(field);
                            default -> u64(field);
                        };
                    }
                    return new Array(type, v, n);
                }
            }
        }

        private boolean bool(String field) {
            int b = u8(field);
            if (b != 0 && b != 1) throw error(field + " is a BOOL of value " + (b & 0xff) + "; expected 0 or 1");
            return b == 1;
        }

        private byte[] stringBytes(String field, long maxBytes) {
            if (++strings > MAX_STRINGS) throw error("the metadata holds more than " + MAX_STRINGS + " strings, Retort's limit");
            long length = u64("the length of " + field);
            if (Long.compareUnsigned(length, size - at) > 0) {
                throw error(field + " has length " + Long.toUnsignedString(length) + ", past the end of the file ("
                        + (size - at) + " bytes left)");
            }
            if (length > maxBytes || length > Integer.MAX_VALUE - 8) {
                throw error(field + " has length " + length + ", longer than Retort reads");
            }
            byte[] bytes = new byte[(int) length];
            MemorySegment.copy(file, ValueLayout.JAVA_BYTE, at, bytes, 0, bytes.length);
            at += length;
            return bytes;
        }

        private String strictString(String field, long maxBytes) {
            byte[] bytes = stringBytes(field, maxBytes);
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw error(field + " is not valid UTF-8");
            }
        }

        private String lenientString(String field) {
            byte[] bytes = stringBytes(field, Integer.MAX_VALUE);
            return bytes.length == 0 ? "" : new String(bytes, StandardCharsets.UTF_8);
        }

        private void need(long n, String what) {
            if (n > size - at) {
                throw error("the file ends (at " + size + " bytes) inside " + what + " at byte " + at);
            }
        }

        private int u8(String what) {
            need(1, what);
            return file.get(ValueLayout.JAVA_BYTE, at++);
        }

        private short u16(String what) {
            need(2, what);
            short v = file.get(U16, at);
            at += 2;
            return v;
        }

        private int u32(String what) {
            need(4, what);
            int v = file.get(U32, at);
            at += 4;
            return v;
        }

        private long u64(String what) {
            need(8, what);
            long v = file.get(U64, at);
            at += 8;
            return v;
        }

        private ModelFileException error(String problem) {
            return new ModelFileException(path, problem);
        }

        private static String hex(int littleEndian) {
            return String.format("%02x %02x %02x %02x", littleEndian & 0xff, littleEndian >>> 8 & 0xff,
                    littleEndian >>> 16 & 0xff, littleEndian >>> 24 & 0xff);
        }

    }

    /**
     * A name or string from the file as messages show it: in single quotes, control characters (a newline that
     * would break the one-line message) as {@code \\uXXXX}, cut after 120 characters.
     */
    public static String quote(String text) {
        StringBuilder out = new StringBuilder(Math.min(text.length(), 120) + 2).append('\'');
        for (int i = 0; i < text.length(); i++) {
            if (out.length() > 120) {
                out.append("…");
                break;
            }
            char c = text.charAt(i);
            if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('\'').toString();
    }

    // ---- what the file holds ---------------------------------------------------------------------------

    public Path path() { return path; }

    /** 2 or 3. */
    public int version() { return version; }

    /** The data alignment in bytes (general.alignment, or {@value #DEFAULT_ALIGNMENT}). */
    public int alignment() { return alignment; }

    /** The file offset of the data section. */
    public long dataStart() { return dataStart; }

    /** Every key/value in file order. */
    public Map<String, Value> metadata() { return metadata; }

    /** Every tensor in file order, by name. */
    public Map<String, TensorEntry> tensors() { return tensors; }

    /** The stored bytes of a tensor (read-only, zero-copy). */
    public MemorySegment data(TensorEntry t) {
        checkOpen();
        return data.asSlice(t.offset(), t.bytes());
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /** A string value; a {@link ModelFileException} when absent or of another type. */
    public String string(String key) {
        return (String) require(key, ValueType.STRING).value();
    }

    /** A non-negative integer value of any integer type that fits in an int, or {@code absent} when the key is absent. */
    public int uint(String key, int absent) {
        Value v = metadata.get(key);
        return v == null ? absent : uint(key);
    }

    /** A non-negative integer value of any integer type that fits in an int. */
    public int uint(String key) {
        Value v = require(key, null);
        if (!(v.value() instanceof Long n) || v.type() == ValueType.BOOL) {
            throw new ModelFileException(path, key + " is a " + v.type() + "; expected an integer");
        }
        if (n < 0 || n > Integer.MAX_VALUE || (v.type() == ValueType.UINT64 && n < 0)) {
            throw new ModelFileException(path, key + " is " + (v.type() == ValueType.UINT64 ? Long.toUnsignedString(n) : n)
                    + "; expected 0 to " + Integer.MAX_VALUE);
        }
        return (int) (long) n;
    }

    /**
     * A FLOAT32 or FLOAT64 value as a double, or {@code absent} when the key is absent; a FLOAT32 becomes the
     * shortest decimal that rounds to it (1e-5 stays 1e-5, as config.json wrote it, not 9.99999974e-6).
     */
    public double number(String key, double absent) {
        Value v = metadata.get(key);
        if (v == null) return absent;
        if (v.value() instanceof Float f) return Double.parseDouble(Float.toString(f));
        if (v.value() instanceof Double d) return d;
        throw new ModelFileException(path, key + " is a " + v.type() + "; expected FLOAT32");
    }

    /** A BOOL value, or {@code absent} when the key is absent. */
    public boolean bool(String key, boolean absent) {
        Value v = metadata.get(key);
        if (v == null) return absent;
        if (v.value() instanceof Boolean b) return b;
        throw new ModelFileException(path, key + " is a " + v.type() + "; expected BOOL");
    }

    /** An array value whose elements are {@code elementType}; {@code null} when the key is absent. */
    public Array array(String key, ValueType elementType) {
        Value v = metadata.get(key);
        if (v == null) return null;
        if (!(v.value() instanceof Array a)) throw new ModelFileException(path, key + " is a " + v.type() + "; expected an array");
        if (a.elementType() != elementType) {
            throw new ModelFileException(path, key + " is an array of " + a.elementType() + "; expected an array of " + elementType);
        }
        return a;
    }

    /** An array of integers of any integer type, as longs; {@code null} when the key is absent. */
    public long[] integers(String key) {
        Value v = metadata.get(key);
        if (v == null) return null;
        if (!(v.value() instanceof Array a) || !(a.values() instanceof long[] values)) {
            throw new ModelFileException(path, key + " is " + (v.value() instanceof Array a ? "an array of " + a.elementType()
                    : "a " + v.type()) + "; expected an array of integers");
        }
        return values;
    }

    private Value require(String key, ValueType type) {
        Value v = metadata.get(key);
        if (v == null) throw new ModelFileException(path, "has no key " + key);
        if (type != null && v.type() != type) throw new ModelFileException(path, key + " is a " + v.type() + "; expected " + type);
        return v;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException(path + " is closed");
    }

    /** Unmaps the file; closing again does nothing. */
    @Override
    public synchronized void close() {
        if (!closed && ownArena != null) ownArena.close();
        closed = true;
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }
}
