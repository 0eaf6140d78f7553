package dev.retort.models.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.DTypeConversion;
import dev.retort.tensor.Tensor;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GGUF export against llama.cpp's gguf-py: the golden file {@code golden/gguf/stories260K-gguf.json} was made by
 * {@code tools/gguf/read_gguf.py golden}, which writes stories260K with gguf-py's own GGUFWriter, SpecialVocab
 * and quants (the converter's steps for a Llama) and records hashes of every key, tensor and file, and the
 * Q8_0 blocks gguf-py makes of edge-case inputs.
 */
public class GgufExportTest {
    @TempDir
    Path tmp;

    static JsonNode golden() throws Exception {
        try (InputStream in = GgufExportTest.class.getResourceAsStream("/golden/gguf/stories260K-gguf.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    // ---- Q8_0 ------------------------------------------------------------------------------------------

    @Test
    void q8BlocksEqualGgufPysForEdgeInputs() throws Exception {
        JsonNode blocks = golden().get("q8_0_blocks");
        assertTrue(blocks.size() >= 10);
        for (Map.Entry<String, JsonNode> e : blocks.properties()) {
            float[] values = new float[Q8Blocks.BLOCK];
            for (int i = 0; i < values.length; i++) {
                values[i] = Float.intBitsToFloat(Integer.parseUnsignedInt(e.getValue().get("input_f32_bits").get(i).asText(), 16));
            }
            assertEquals(e.getValue().get("block").asText(), HexFormat.of().formatHex(Q8Blocks.quantize(values)), e.getKey());
        }
    }

    @Test
    void q8DequantizesWithinHalfAStep() {
        float[] values = new float[64];
        for (int i = 0; i < values.length; i++) values[i] = (float) Math.sin(i * 0.7) * (i < 32 ? 3f : 0.01f);
        MemorySegment blocks = MemorySegment.ofArray(Q8Blocks.quantize(values));
        for (int b = 0; b < 2; b++) {
            float max = 0;
            for (int i = 0; i < 32; i++) max = Math.max(max, Math.abs(values[b * 32 + i]));
            for (int i = 0; i < 32; i++) {
                float err = Math.abs(Q8Blocks.dequantize(blocks, b, i) - values[b * 32 + i]);
                assertTrue(err <= max / 127 * 0.5f * 1.01f, "block " + b + " value " + i + ": error " + err);
            }
        }
    }

    // ---- format ----------------------------------------------------------------------------------------

    @Test
    void layoutIsGgufV3WithAlignedData() throws Exception {
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putUint32("llama.block_count", 3)
                .putFloat32("llama.rope.freq_base", 10000f)
                .putBool("tokenizer.ggml.add_bos_token", true)
                .putStringArray("tokenizer.ggml.tokens", List.of("a".getBytes(StandardCharsets.UTF_8), "\u2581bc".getBytes(StandardCharsets.UTF_8)))
                .putFloat32Array("tokenizer.ggml.scores", new float[] {-1f, 2.5f})
                .putInt32Array("tokenizer.ggml.token_type", new int[] {1, 3});
        float[] norm = {1f, 2f, 3f};                      // 12 bytes: padded to 32
        float[] matrix = new float[2 * 32];
        for (int i = 0; i < matrix.length; i++) matrix[i] = i - 20;
        w.addTensor("n.weight", GgufWriter.TensorType.F32, new long[] {3}, a -> a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, norm));
        w.addTensor("m.weight", GgufWriter.TensorType.Q8_0, new long[] {32, 2}, a -> MemorySegment.ofArray(Q8Blocks.quantize(matrix)));
        Path file = tmp.resolve("t.gguf");
        w.write(file);

        GgufFile g = GgufFile.read(file);
        assertEquals(3, g.version);
        assertEquals(List.of("general.architecture", "llama.block_count", "llama.rope.freq_base", "tokenizer.ggml.add_bos_token",
                "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"), new ArrayList<>(g.values.keySet()));
        assertEquals("llama", g.values.get("general.architecture"));
        assertEquals(3L, g.values.get("llama.block_count"));
        assertEquals(10000f, g.values.get("llama.rope.freq_base"));
        assertEquals(true, g.values.get("tokenizer.ggml.add_bos_token"));
        assertEquals(List.of("a", "\u2581bc"), g.values.get("tokenizer.ggml.tokens"));
        assertEquals(List.of(-1f, 2.5f), g.values.get("tokenizer.ggml.scores"));
        assertEquals(List.of(1L, 3L), g.values.get("tokenizer.ggml.token_type"));
        assertEquals(Map.of("general.architecture", 8, "llama.block_count", 4, "llama.rope.freq_base", 6,
                "tokenizer.ggml.add_bos_token", 7, "tokenizer.ggml.tokens", 9, "tokenizer.ggml.scores", 9,
                "tokenizer.ggml.token_type", 9), g.types);
        assertEquals(0, g.dataStart % 32, "data section aligned");
        GgufFile.Info n = g.tensors.get("n.weight"), m = g.tensors.get("m.weight");
        assertEquals(0, n.offset());
        assertEquals(32, m.offset(), "the 12-byte norm is padded to 32");
        assertArrayEquals(new long[] {32, 2}, m.dims());
        assertEquals(8, m.type());
        assertEquals(g.dataStart + 32 + 2 * 34 + GgufWriter.padding(68), Files.size(file), "the last tensor is padded too");
        assertEquals(2f, g.f32(n, 1));
        assertArrayEquals(Q8Blocks.quantize(matrix), g.bytes(m, 68));
    }

    @Test
    void refusesDuplicatesAndPartialBlocks() {
        GgufWriter w = new GgufWriter().putUint32("a", 1);
        assertThrows(IllegalArgumentException.class, () -> w.putUint32("a", 2));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("x", GgufWriter.TensorType.Q8_0, new long[] {48, 2}, a -> null));
        assertThrows(IllegalArgumentException.class, () -> w.putUint32("b", -1));
    }

    @Test
    void qkPermutationInterleavesTheHalvesOfEachHead() {
        // head_dim 8: llama.cpp's rows 0..7 of a head come from HF rows 0,4,1,5,2,6,3,7
        int[] expected = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};
        for (int r = 0; r < expected.length; r++) assertEquals(expected[r], GgufExporter.sourceRow(r, 8), "row " + r);
    }

    // ---- stories260K against gguf-py ------------------------------------------------------------------

    @Test
    void stories260KExportsEqualGgufPysFiles() throws Exception {
        Path stories = ModelExporterTest.stories();
        JsonNode exports = golden().get("exports");
        for (GgufExporter.FileType type : GgufExporter.FileType.values()) {
            String dtype = type.name().toLowerCase(java.util.Locale.ROOT);
            JsonNode want = exports.get(dtype);
            Path file = tmp.resolve(dtype + ".gguf");
            GgufExporter.export(stories, null, file, type);
            GgufFile g = GgufFile.read(file);
            // key by key and tensor by tensor first, so a difference names its place; then the whole file
            List<String> keys = new ArrayList<>();
            for (JsonNode kv : want.get("keys")) {
                String key = kv.get(0).asText();
                keys.add(key);
                assertEquals(kv.get(1).asText(), sha256(g.valueBytes.get(key)), dtype + " key " + key);
            }
            assertEquals(keys, new ArrayList<>(g.values.keySet()), dtype + " keys and their order");
            assertEquals(want.get("tensors").size(), g.tensors.size());
            for (JsonNode t : want.get("tensors")) {
                GgufFile.Info info = g.tensors.get(t.get(0).asText());
                String what = dtype + " tensor " + t.get(0).asText();
                assertEquals(t.get(1).asText(), info.typeName(), what);
                assertEquals(t.get(2).toString(), java.util.Arrays.toString(info.dims()).replace(" ", ""), what);
                assertEquals(t.get(3).asLong(), info.offset(), what);
                assertEquals(t.get(4).asText(), sha256(g.bytes(info, info.bytes())), what);
            }
            assertEquals(want.get("bytes").asLong(), Files.size(file), dtype);
            assertEquals(want.get("sha256").asText(), sha256(Files.readAllBytes(file)), dtype + " whole file");
        }
    }

    /** The F32 export read back: embedding as stored, q rows permuted, k rows permuted with the KV head count. */
    @Test
    void f32ExportReadsBackAsTheHfWeightsPermuted() throws Exception {
        Path stories = ModelExporterTest.stories();
        Path file = tmp.resolve("s.gguf");
        GgufExporter.export(stories, null, file, GgufExporter.FileType.F32);
        GgufFile g = GgufFile.read(file);
        LlamaConfig c = LlamaConfig.read(stories);
        assertEquals((long) c.numHiddenLayers() * 9 + 2, g.tensors.size());
        assertFalse(g.tensors.containsKey("output.weight"), "tied embeddings: llama.cpp reads token_embd");
        try (ModelWeights weights = ModelWeights.open(stories); Arena arena = Arena.ofConfined()) {
            LlamaModel model = LlamaModel.load(c, weights, arena, false);
            var params = model.namedParameters();
            check(g, "token_embd.weight", f32(params.get("model.embed_tokens.weight").value(), arena), 0);
            check(g, "blk.2.attn_q.weight", f32(params.get("model.layers.2.self_attn.q_proj.weight").value(), arena), c.headDim());
            check(g, "blk.2.attn_k.weight", f32(params.get("model.layers.2.self_attn.k_proj.weight").value(), arena), c.headDim());
            check(g, "blk.4.ffn_down.weight", f32(params.get("model.layers.4.mlp.down_proj.weight").value(), arena), 0);
            check(g, "output_norm.weight", f32(params.get("model.norm.weight").value(), arena), 0);
        }
        assertEquals(8L, g.values.get("llama.rope.dimension_count"));
        assertEquals(0L, g.values.get("tokenizer.ggml.unknown_token_id"));
        assertEquals("<s>", ((List<?>) g.values.get("tokenizer.ggml.tokens")).get(1));
    }

    /** An adapter is merged before writing: the export equals that of the HF directory merged by ModelExporter. */
    @Test
    void adapterIsMergedFirst() throws Exception {
        Path stories = ModelExporterTest.stories();
        Path adapter = tmp.resolve("adapter");
        ModelExporterTest.writeAdapter(stories, adapter);
        Path merged = tmp.resolve("merged").resolve(stories.getFileName());   // same name: general.name matches
        Files.createDirectories(merged.getParent());
        ModelExporter.export(stories, adapter, merged, DType.F32);
        Path withAdapter = tmp.resolve("a.gguf"), fromMerged = tmp.resolve("m.gguf"), plain = tmp.resolve("p.gguf");
        GgufExporter.export(stories, adapter, withAdapter, GgufExporter.FileType.Q8_0);
        GgufExporter.export(merged, null, fromMerged, GgufExporter.FileType.Q8_0);
        GgufExporter.export(stories, null, plain, GgufExporter.FileType.Q8_0);
        assertArrayEquals(Files.readAllBytes(fromMerged), Files.readAllBytes(withAdapter));
        assertNotEquals(sha256(Files.readAllBytes(plain)), sha256(Files.readAllBytes(withAdapter)), "the adapter changed the weights");
    }

    private static Tensor f32(Tensor t, Arena arena) {
        return DTypeConversion.convert(t, DType.F32, arena);
    }

    /** Every element of the GGUF tensor against the HF tensor, rows permuted per head when headDim &gt; 0. */
    private static void check(GgufFile g, String name, Tensor hf, int headDim) {
        GgufFile.Info info = g.tensors.get(name);
        int columns = hf.dim(-1);
        long rows = hf.size() / columns;
        for (int r = 0; r < rows; r++) {
            int source = headDim > 0 ? (r / headDim) * headDim + (r % headDim % 2) * (headDim / 2) + (r % headDim) / 2 : r;
            for (int col = 0; col < columns; col++) {
                assertEquals(hf.getFlat((long) source * columns + col), g.f32(info, (long) r * columns + col), name + " [" + r + "," + col + "]");
            }
        }
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /** A minimal GGUF v3 reader for the checks above: the values, their raw bytes, and the tensor table. */
    static final class GgufFile {
        record Info(String name, long[] dims, int type, long offset) {
            String typeName() {
                return switch (type) { case 0 -> "F32"; case 1 -> "F16"; case 8 -> "Q8_0"; default -> "type " + type; };
            }

            long bytes() {
                long n = 1;
                for (long d : dims) n *= d;
                return switch (type) { case 0 -> n * 4; case 1 -> n * 2; case 8 -> n / 32 * 34; default -> throw new IllegalStateException(); };
            }
        }

        int version;
        final Map<String, Object> values = new LinkedHashMap<>();
        final Map<String, Integer> types = new LinkedHashMap<>();
        final Map<String, byte[]> valueBytes = new LinkedHashMap<>();   // u32 type + value, as gguf-py's parts[2:]
        final Map<String, Info> tensors = new LinkedHashMap<>();
        long dataStart;
        private ByteBuffer buf;

        static GgufFile read(Path file) throws Exception {
            GgufFile g = new GgufFile();
            g.buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(GgufWriter.MAGIC, g.buf.getInt(), "magic");
            g.version = g.buf.getInt();
            long tensorCount = g.buf.getLong(), kvCount = g.buf.getLong();
            for (long i = 0; i < kvCount; i++) {
                String key = g.string();
                int start = g.buf.position();
                int type = g.buf.getInt();
                g.types.put(key, type);
                g.values.put(key, g.value(type));
                byte[] raw = new byte[g.buf.position() - start];
                g.buf.get(start, raw);
                g.valueBytes.put(key, raw);
            }
            for (long i = 0; i < tensorCount; i++) {
                String name = g.string();
                long[] dims = new long[g.buf.getInt()];
                for (int d = 0; d < dims.length; d++) dims[d] = g.buf.getLong();
                int type = g.buf.getInt();
                long offset = g.buf.getLong();
                assertEquals(0, offset % 32, name + " offset aligned");
                g.tensors.put(name, new Info(name, dims, type, offset));
            }
            g.dataStart = (g.buf.position() + 31) / 32 * 32;
            for (int p = g.buf.position(); p < g.dataStart; p++) assertEquals(0, g.buf.get(p), "padding is zeros");
            return g;
        }

        float f32(Info t, long index) {
            return buf.getFloat((int) (dataStart + t.offset() + 4 * index));
        }

        byte[] bytes(Info t, long length) {
            byte[] out = new byte[(int) length];
            buf.get((int) (dataStart + t.offset()), out);
            return out;
        }

        private String string() {
            byte[] b = new byte[(int) buf.getLong()];
            buf.get(b);
            return new String(b, StandardCharsets.UTF_8);
        }

        private Object value(int type) {
            return switch (type) {
                case 4 -> Integer.toUnsignedLong(buf.getInt());
                case 5 -> (long) buf.getInt();
                case 6 -> buf.getFloat();
                case 7 -> buf.get() != 0;
                case 8 -> string();
                case 9 -> {
                    int elementType = buf.getInt();
                    long n = buf.getLong();
                    List<Object> list = new ArrayList<>();
                    for (long i = 0; i < n; i++) list.add(value(elementType));
                    yield list;
                }
                default -> throw new IllegalStateException("value type " + type + " not expected in Retort's exports");
            };
        }
    }
}
