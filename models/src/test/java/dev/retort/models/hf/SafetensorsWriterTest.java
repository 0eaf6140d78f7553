package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsWriterTest {
    @TempDir
    Path dir;

    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void freeMemory() {
        arena.close();
    }

    // ---- the reference implementation's own bytes ----------------------------------------------------------

    /** The safetensors Rust crate's serialization test: one F32 [1, 2, 3] tensor named "attn.0" holding 0..5. */
    @Test
    void writesTheReferenceCratesSerializationTestVector() throws IOException {
        Tensor t = Tensor.of(arena, new float[] {0, 1, 2, 3, 4, 5}, 1, 2, 3);
        Path file = dir.resolve("attn.safetensors");
        SafetensorsWriter.write(file, Map.of("attn.0", t));
        byte[] expected = concat(le64(64),
                ascii("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}"),
                floats(0, 1, 2, 3, 4, 5));
        assertBytes(expected, Files.readAllBytes(file));
    }

    /** The crate's alignment test: a one-byte-shorter name, so the header needs 7 spaces of padding. */
    @Test
    void padsTheHeaderWithSpacesToEightBytesAsTheReferenceDoes() throws IOException {
        Tensor t = Tensor.of(arena, new float[] {0, 1, 2, 3, 4, 5}, 1, 1, 2, 3);
        Path file = dir.resolve("attn0.safetensors");
        SafetensorsWriter.write(file, Map.of("attn0", t));
        byte[] expected = concat(le64(72),
                ascii("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       "),
                floats(0, 1, 2, 3, 4, 5));
        assertBytes(expected, Files.readAllBytes(file));
    }

    /** The crate's empty-file tests, without and with metadata. */
    @Test
    void writesEmptyFilesAsTheReferenceDoes() throws IOException {
        Path empty = dir.resolve("empty.safetensors");
        SafetensorsWriter.write(empty, Map.of());
        assertBytes(concat(le64(8), ascii("{}      ")), Files.readAllBytes(empty));

        Path withMetadata = dir.resolve("meta.safetensors");
        SafetensorsWriter.write(withMetadata, Map.of(), Map.of("framework", "pt"));
        assertBytes(concat(le64(40), ascii("{\"__metadata__\":{\"framework\":\"pt\"}}     ")),
                Files.readAllBytes(withMetadata));
    }

    /** writer-reference.safetensors was written by the Python safetensors library from the same tensors. */
    @Test
    void writesTheSameBytesAsThePythonLibraryForMixedDtypes() throws IOException {
        JsonNode expected = new ObjectMapper().readTree(TestFiles.goldenText("mixed.expected.json")).get("tensors");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (var entry : expected.properties()) {
            SafetensorsDType type = SafetensorsDType.byName(entry.getValue().get("dtype").asText());
            if (type.retortType() == null) continue; // I64, U8: not Retort tensors
            int[] shape = new ObjectMapper().treeToValue(entry.getValue().get("shape"), int[].class);
            tensors.put(entry.getKey(), fromBits(type.retortType(), shape, entry.getValue().get("bits")));
        }
        Path file = dir.resolve("mine.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
        assertBytes(TestFiles.goldenBytes("writer-reference.safetensors"), Files.readAllBytes(file));
    }

    private Tensor fromBits(DType type, int[] shape, JsonNode bits) {
        Tensor t = Tensor.zeros(arena, type, shape);
        for (int i = 0; i < bits.size(); i++) {
            long b = bits.get(i).longValue();
            switch (type.bytes) {
                case 1 -> t.segment().set(ValueLayout.JAVA_BYTE, i, (byte) b);
                case 2 -> t.segment().setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, (short) b);
                default -> t.segment().setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, (int) b);
            }
        }
        return t;
    }

    // ---- round trips --------------------------------------------------------------------------------------

    @Test
    void roundTripsEveryDtypeBitForBitIncludingNaNPayloads() {
        Random random = new Random(7);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (DType type : SAFETENSORS_TYPES) tensors.put("t." + type, randomBits(random, type, 3, 5));
        Path file = dir.resolve("all.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of("format", "pt", "note", "ünïcödé ✓"));
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertEquals(Map.of("format", "pt", "note", "ünïcödé ✓"), read.metadata());
            assertSameTensors(tensors, read);
        }
    }

    @Test
    void emptyMetadataIsOmittedAndReadsBackEmpty() throws IOException {
        Path file = dir.resolve("plain.safetensors");
        SafetensorsWriter.write(file, Map.of("x", Tensor.of(arena, new float[] {1, 2}, 2)));
        assertTrue(!new String(Files.readAllBytes(file), StandardCharsets.UTF_8).contains("__metadata__"));
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertEquals(Map.of(), read.metadata());
        }
    }

    @Test
    void roundTripsManyTensorsOfRandomShapesAndDtypesAlignedToTheirElementSize() {
        Random random = new Random(42);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        DType[] types = SAFETENSORS_TYPES;
        for (int i = 0; i < 300; i++) {
            int[] shape = new int[random.nextInt(4)];
            for (int d = 0; d < shape.length; d++) shape[d] = random.nextInt(6);
            tensors.put("layers." + i + ".w", randomBits(random, types[random.nextInt(types.length)], shape));
        }
        Path file = dir.resolve("many.safetensors");
        SafetensorsWriter.write(file, tensors);
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertSameTensors(tensors, read);
            for (TensorInfo info : read.header().tensors().values()) {
                long absolute = read.bytes(info.name()).address();
                assertEquals(0, absolute % (info.dtype().bits / 8), info + " is not aligned to its element size");
            }
        }
    }

    @Test
    void roundTripsZeroSizeTensorsAndScalars() {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("a.empty", Tensor.zeros(arena, DType.F32, 0));
        tensors.put("b.empty", Tensor.zeros(arena, DType.BF16, 4, 0, 2));
        tensors.put("c.scalar", Tensor.of(arena, new float[] {-3.25f}));
        tensors.put("d.empty", Tensor.zeros(arena, DType.F32, 0, 7));
        tensors.put("e.vector", Tensor.of(arena, new float[] {1, 2, 3}, 3));
        Path file = dir.resolve("zero.safetensors");
        SafetensorsWriter.write(file, tensors);
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertSameTensors(tensors, read);
            assertEquals(0, read.info("b.empty").byteSize());
            assertArrayEquals(new int[0], read.info("c.scalar").shape());
            assertEquals(-3.25f, read.tensor("c.scalar").get());
        }
    }

    @Test
    void writesStridedViewsInRowMajorOrder() {
        Tensor base = Tensor.of(arena, DType.BF16, ramp(4 * 6 * 5), 4, 6, 5);
        Tensor f32 = Tensor.of(arena, ramp(7 * 300), 7, 300); // rows longer than nothing, runs cross the staging buffer below
        Map<String, Tensor> views = new LinkedHashMap<>();
        views.put("transposed", base.transpose(0, 2));            // last stride ≠ 1: element by element
        views.put("sliced", base.slice(1, 2, 5).select(0, 3));    // last stride 1, gaps between rows
        views.put("columns", f32.slice(1, 10, 290));
        views.put("f32.transposed", f32.transpose(0, 1));
        Path file = dir.resolve("views.safetensors");
        SafetensorsWriter.write(file, views);
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            for (var view : views.entrySet()) {
                Tensor back = read.tensor(view.getKey());
                assertArrayEquals(view.getValue().shape(), back.shape(), view.getKey());
                assertArrayEquals(view.getValue().toFloatArray(), back.toFloatArray(), view.getKey());
            }
        }
    }

    @Test
    void writesStridedViewsLargerThanTheStagingBuffer() {
        Tensor big = Tensor.of(arena, ramp(600 * 700), 600, 700); // 1.6 MB: more than one staging buffer
        Path file = dir.resolve("big.safetensors");
        SafetensorsWriter.write(file, Map.of("t", big.transpose(0, 1), "s", big.slice(1, 1, 699)));
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertArrayEquals(big.transpose(0, 1).toFloatArray(), read.tensor("t").toFloatArray());
            assertArrayEquals(big.slice(1, 1, 699).toFloatArray(), read.tensor("s").toFloatArray());
        }
    }

    // ---- atomicity ----------------------------------------------------------------------------------------

    @Test
    void aWriteThatFailsMidwayLeavesTheExistingFileUntouchedAndNoTemporaryFile() throws IOException {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of("old", Tensor.of(arena, new float[] {1, 2, 3}, 3)));
        byte[] before = Files.readAllBytes(file);

        Arena dead = Arena.ofConfined();
        Tensor unreadable = Tensor.zeros(dead, DType.F32, 1000);
        dead.close(); // its memory now throws on access
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("a.fine", Tensor.of(arena, new float[] {4, 5}, 2)); // written first (names sort before)
        tensors.put("b.unreadable", unreadable);

        assertThrows(IllegalStateException.class, () -> SafetensorsWriter.write(file, tensors));
        assertBytes(before, Files.readAllBytes(file));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(file), files.toList(), "only the original file should remain");
        }
    }

    @Test
    void aWriteIntoAReadOnlyDirectoryFailsAndLeavesTheExistingFile() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("ro"));
        Path file = sub.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of("old", Tensor.of(arena, new float[] {1}, 1)));
        byte[] before = Files.readAllBytes(file);
        Files.setPosixFilePermissions(sub, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            assumeFalse(Files.isWritable(sub), "permissions do not bind this user (root?); cannot test a read-only directory");
            ModelFileException e = assertThrows(ModelFileException.class,
                    () -> SafetensorsWriter.write(file, Map.of("new", Tensor.of(arena, new float[] {2}, 1))));
            assertTrue(e.getMessage().startsWith(file + ": cannot write: java.nio.file.AccessDeniedException"), e.getMessage());
            assertBytes(before, Files.readAllBytes(file));
        } finally {
            Files.setPosixFilePermissions(sub, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    @Test
    void aWriteIntoAMissingDirectoryIsAOneLineError() {
        Path file = dir.resolve("no/such/dir/model.safetensors");
        ModelFileException e = assertThrows(ModelFileException.class,
                () -> SafetensorsWriter.write(file, Map.of("x", Tensor.of(arena, new float[] {1}, 1))));
        assertTrue(e.getMessage().startsWith(file + ": cannot write: java.nio.file.NoSuchFileException"), e.getMessage());
    }

    @Test
    void replacesAnExistingFile() {
        Path file = dir.resolve("model.safetensors");
        SafetensorsWriter.write(file, Map.of("old", Tensor.of(arena, new float[] {1}, 1)));
        SafetensorsWriter.write(file, Map.of("new", Tensor.of(arena, new float[] {2}, 1)));
        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertEquals(List.of("new"), List.copyOf(read.names()));
        }
    }

    @Test
    void aTensorNamedLikeTheMetadataKeyIsRefused() {
        Path file = dir.resolve("bad.safetensors");
        assertThrows(IllegalArgumentException.class,
                () -> SafetensorsWriter.write(file, Map.of("__metadata__", Tensor.of(arena, new float[] {1}, 1))));
        assertTrue(Files.notExists(file));
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    private static void assertSameTensors(Map<String, Tensor> written, SafetensorsFile read) {
        assertEquals(written.keySet().stream().sorted().toList(), List.copyOf(read.names()), "names");
        for (var entry : written.entrySet()) {
            Tensor w = entry.getValue();
            Tensor r = read.tensor(entry.getKey());
            assertEquals(w.dtype(), r.dtype(), entry.getKey());
            assertArrayEquals(w.shape(), r.shape(), entry.getKey());
            MemorySegment wb = w.segment().asSlice(w.byteOffset(), w.size() * w.dtype().bytes);
            assertEquals(-1, wb.mismatch(read.bytes(entry.getKey())), entry.getKey() + ": bytes differ");
        }
    }

    /** The dtypes a safetensors file holds: all but the block type Q8_0 (GGUF only). */
    private static final DType[] SAFETENSORS_TYPES = Arrays.stream(DType.values()).filter(t -> !t.isBlock()).toArray(DType[]::new);

    private Tensor randomBits(Random random, DType type, int... shape) {
        Tensor t = Tensor.zeros(arena, type, shape);
        byte[] bytes = new byte[(int) t.segment().byteSize()];
        random.nextBytes(bytes);
        MemorySegment.copy(bytes, 0, t.segment(), ValueLayout.JAVA_BYTE, 0, bytes.length);
        return t;
    }

    private static float[] ramp(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i * 0.5f - 3;
        return v;
    }

    private static byte[] le64(long value) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return b.array();
    }

    private static byte[] concat(byte[]... parts) {
        byte[] all = new byte[Arrays.stream(parts).mapToInt(p -> p.length).sum()];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    private static void assertBytes(byte[] expected, byte[] actual) {
        if (!Arrays.equals(expected, actual)) {
            assertEquals(HexFormat.of().formatHex(expected), HexFormat.of().formatHex(actual),
                    "bytes differ (expected " + expected.length + " bytes, got " + actual.length + ")");
        }
    }
}
