package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsReaderTest {
    @TempDir
    Path dir;

    /** mixed.safetensors was written by the Python safetensors library; mixed.expected.json says what it holds. */
    @Test
    void readsEveryTensorOfAFileWrittenByTheReferenceLibraryBitForBit() throws Exception {
        Path file = TestFiles.golden("mixed.safetensors", dir);
        JsonNode expected = new ObjectMapper().readTree(TestFiles.goldenText("mixed.expected.json")).get("tensors");
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            List<String> expectedNames = new ArrayList<>();
            expected.fieldNames().forEachRemaining(expectedNames::add);
            assertEquals(expectedNames, List.copyOf(weights.names()), "tensor names");
            assertEquals(Map.of("format", "pt", "made_by", "tools/hf-golden/make_golden.py"), weights.metadata());

            for (String name : expectedNames) {
                JsonNode want = expected.get(name);
                TensorInfo info = weights.info(name);
                assertEquals(want.get("dtype").asText(), info.dtype().name(), name + " dtype");
                int[] shape = new ObjectMapper().treeToValue(want.get("shape"), int[].class);
                assertArrayEquals(shape, info.shape(), name + " shape");

                // Raw bytes: every element's bit pattern as numpy wrote it.
                MemorySegment bytes = weights.bytes(name);
                int width = info.dtype().bits / 8;
                JsonNode bits = want.get("bits");
                assertEquals(bits.size() * (long) width, bytes.byteSize(), name + " byte size");
                for (int i = 0; i < bits.size(); i++) {
                    assertEquals(bits.get(i).bigIntegerValue().longValue(), element(bytes, i, width),
                            name + " element " + i + " bits");
                }

                // Tensor views: the values numpy reads, for the dtypes Retort computes with.
                if (info.dtype().retortType() == null) continue;
                Tensor t = weights.tensor(name);
                assertEquals(info.dtype().retortType(), t.dtype());
                assertArrayEquals(shape, t.shape());
                JsonNode values = want.get("values");
                for (int i = 0; i < values.size(); i++) {
                    float actual = t.getFlat(i);
                    float wanted = parseValue(values.get(i));
                    String where = name + "[" + i + "]: expected " + wanted + " but read " + actual;
                    if (Float.isNaN(wanted)) {
                        assertTrue(Float.isNaN(actual), where);
                    } else {
                        assertEquals(Float.floatToIntBits(wanted), Float.floatToIntBits(actual), where);
                    }
                }
            }
        }
    }

    private static long element(MemorySegment bytes, int index, int width) {
        return switch (width) {
            case 1 -> Byte.toUnsignedLong(bytes.get(ValueLayout.JAVA_BYTE, index));
            case 2 -> Short.toUnsignedLong(bytes.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, index));
            case 4 -> Integer.toUnsignedLong(bytes.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, index));
            case 8 -> bytes.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, index);
            default -> throw new IllegalArgumentException("width " + width);
        };
    }

    /** numpy's repr of a float ("nan", "inf", "-0.0", "0.1") or an integer. */
    private static float parseValue(JsonNode value) {
        if (value.isNumber()) return value.floatValue();
        return switch (value.asText()) {
            case "nan" -> Float.NaN;
            case "inf" -> Float.POSITIVE_INFINITY;
            case "-inf" -> Float.NEGATIVE_INFINITY;
            default -> (float) Double.parseDouble(value.asText());
        };
    }

    @Test
    void tensorsAreZeroCopyViewsOfTheMappedFile() {
        Path file = TestFiles.golden("mixed.safetensors", dir);
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            Tensor t = weights.tensor("model.layers.0.mlp.up_proj.weight");
            MemorySegment bytes = weights.bytes("model.layers.0.mlp.up_proj.weight");
            assertTrue(t.segment().isMapped(), "tensor memory should be the file mapping");
            assertTrue(t.segment().isReadOnly(), "weights are mapped read-only");
            assertEquals(bytes.address(), t.segment().address() + t.byteOffset(), "tensor should point into the mapping");
        }
    }

    @Test
    void readsStories260KWithTheShapesItsReadmeDescribes() {
        Path file = SharedAssets.require("stories260K/model.safetensors");
        try (ModelWeights weights = ModelWeights.open(file.getParent())) {
            // 5 layers × 9 tensors + embeddings + final norm; tied embeddings, so no lm_head.
            assertEquals(5 * 9 + 2, weights.names().size(), "tensor count");
            assertArrayEquals(new int[] {512, 64}, weights.info("model.embed_tokens.weight").shape(), "embeddings [vocab, dim]");
            assertArrayEquals(new int[] {64}, weights.info("model.norm.weight").shape());
            assertArrayEquals(new int[] {32, 64}, weights.info("model.layers.4.self_attn.k_proj.weight").shape(),
                    "k_proj [4 kv heads × head_dim 8, dim]");
            assertArrayEquals(new int[] {172, 64}, weights.info("model.layers.0.mlp.gate_proj.weight").shape());
            for (String name : weights.names()) assertEquals(SafetensorsDType.F32, weights.info(name).dtype(), name);

            Tensor norm = weights.tensor("model.norm.weight");
            assertEquals(DType.F32, norm.dtype());
            float[] values = norm.toFloatArray();
            // A trained RMSNorm gain: finite, not the all-ones initialisation.
            boolean trained = false;
            for (float v : values) {
                assertTrue(Float.isFinite(v), "finite norm weight");
                trained |= v != 1.0f;
            }
            assertTrue(trained, "model.norm.weight should hold trained values, not ones");
            assertEquals(3, ((SafetensorsFile) weights).metadata().size(), "__metadata__ entries");
        }
    }

    @Test
    void aMissingTensorNamesTheFileAndListsCloseNames() {
        Path file = TestFiles.golden("mixed.safetensors", dir);
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            ModelFileException e = assertThrows(ModelFileException.class,
                    () -> weights.tensor("model.layers.1.mlp.up_proj.weight"));
            assertEquals(file + ": no tensor 'model.layers.1.mlp.up_proj.weight'; close names: "
                    + "'model.layers.0.mlp.up_proj.weight'", e.getMessage());

            ModelFileException far = assertThrows(ModelFileException.class, () -> weights.tensor("lm_head.weight"));
            assertTrue(far.getMessage().startsWith(file + ": no tensor 'lm_head.weight'; 9 tensors, e.g. 'brain', "),
                    far.getMessage());
        }
    }

    @Test
    void aDtypeRetortDoesNotComputeWithIsReadableAsBytesButNotAsATensor() {
        Path file = TestFiles.golden("mixed.safetensors", dir);
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            ModelFileException e = assertThrows(ModelFileException.class, () -> weights.tensor("positions"));
            assertEquals(file + ": tensor 'positions' has dtype I64, which Retort does not compute with "
                    + "(F32, F16, BF16, I8); read its raw bytes instead", e.getMessage());
            assertEquals(1L << 40, weights.bytes("positions").getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, 2));
        }
    }

    @Test
    void closingTheFileUnmapsItsTensors() {
        Path file = TestFiles.golden("mixed.safetensors", dir);
        SafetensorsFile weights = SafetensorsFile.open(file);
        Tensor t = weights.tensor("scalar");
        assertEquals(2.5f, t.get());
        weights.close();
        weights.close(); // a second close is harmless
        assertThrows(IllegalStateException.class, t::get, "a tensor of a closed file must not be readable");
    }

    @Test
    void aCallersArenaOwnsTheMapping() {
        Path file = TestFiles.golden("mixed.safetensors", dir);
        Tensor t;
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile weights = SafetensorsFile.open(file, arena);
            t = weights.tensor("scalar");
            weights.close(); // does not unmap: the arena is the caller's
            assertEquals(2.5f, t.get());
        }
        assertThrows(IllegalStateException.class, t::get);
    }

    @Test
    void aMissingFileIsAOneLineError() {
        Path file = dir.resolve("nope.safetensors");
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafetensorsFile.open(file));
        assertEquals(file + ": file not found", e.getMessage());
    }

    @Test
    void aDirectoryWithoutWeightsIsAnError() {
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelWeights.open(dir));
        assertEquals(dir + ": has neither model.safetensors nor model.safetensors.index.json", e.getMessage());
    }
}
