package dev.retort.models.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.models.Llm;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GGUF file written by llama.cpp's own gguf-py ({@code tools/gguf/make_golden_gguf.py}): a one-layer Llama whose
 * matrices are stored as F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 (quantised by gguf-py's quants module,
 * q/k rows permuted as the converter permutes them), 64-byte alignment, a tiny vocabulary and one key of every
 * value type. Retort must read every key, every tensor's values exactly as gguf-py's dequantize gives them (q/k
 * permutation undone), and compute transformers' logits from them.
 */
class GgufGoldenTest {
    @TempDir
    Path tmp;

    static Path file() throws Exception {
        return Path.of(GgufGoldenTest.class.getResource("/golden/gguf/tiny-llama.gguf").toURI());
    }

    static JsonNode golden() throws Exception {
        return new ObjectMapper().readTree(GgufGoldenTest.class.getResourceAsStream("/golden/gguf/tiny-llama.json"));
    }

    @Test
    void readsEveryKeyWithItsTypeAndValue() throws Exception {
        JsonNode golden = golden();
        try (GgufFile file = GgufFile.open(file())) {
            assertEquals(3, file.version());
            assertEquals(64, file.alignment());
            assertEquals(0, file.dataStart() % 64);
            for (Map.Entry<String, JsonNode> e : golden.get("metadata").properties()) {
                GgufFile.Value v = file.metadata().get(e.getKey());
                JsonNode want = e.getValue();
                assertEquals(want.get("type").asText(), v.type().name(), e.getKey());
                assertValue(e.getKey(), want, v);
            }
            assertEquals(golden.get("tensors").size(), file.tensors().size());
        }
    }

    private static void assertValue(String key, JsonNode want, GgufFile.Value v) {
        JsonNode value = want.get("value");
        switch (v.type()) {
            case STRING -> assertEquals(value.asText(), v.value(), key);
            case BOOL -> assertEquals(value.asBoolean(), v.value(), key);
            case FLOAT32 -> assertEquals((float) value.asDouble(), (Float) v.value(), key);
            case FLOAT64 -> assertEquals(value.asDouble(), (Double) v.value(), key);
            case UINT64 -> assertEquals(value.bigIntegerValue().longValue(), (long) (Long) v.value(), key);   // bit pattern
            case ARRAY -> {
                GgufFile.Array a = (GgufFile.Array) v.value();
                assertEquals(want.get("element_type").asText(), a.elementType().name(), key);
                assertEquals(value.size(), a.length(), key);
                for (int i = 0; i < a.length(); i++) {
                    if (a.values() instanceof long[] longs) assertEquals(value.get(i).asLong(), longs[i], key);
                    else assertEquals(value.get(i).asText(), ((String[]) a.values())[i], key);
                }
            }
            default -> assertEquals(value.asLong(), (long) (Long) v.value(), key);
        }
    }

    @Test
    void readsEveryTensorAsGgufPyDequantisesItWithTheQkPermutationUndone() throws Exception {
        JsonNode tensors = golden().get("tensors");
        List<String> types = new ArrayList<>();
        try (ModelWeights weights = ModelWeights.open(file())) {
            TreeSet<String> names = new TreeSet<>();
            tensors.fieldNames().forEachRemaining(names::add);
            assertEquals(names, weights.names());
            for (Map.Entry<String, JsonNode> e : tensors.properties()) {
                String name = e.getKey();
                JsonNode want = e.getValue();
                Tensor t = weights.tensor(name);
                String type = want.get("type").asText();
                types.add(type);
                assertEquals(type, ((GgufWeights) weights).entry(name).type().name(), name);
                assertEquals(type.equals("F16") ? DType.F16 : type.equals("BF16") ? DType.BF16 : DType.F32, t.dtype(), name);
                int[] shape = new int[want.get("shape").size()];
                for (int i = 0; i < shape.length; i++) shape[i] = want.get("shape").get(i).asInt();
                assertArrayEquals(shape, t.shape(), name);
                float[] values = t.toFloatArray();
                for (int i = 0; i < 8; i++) assertEquals((float) want.get("first").get(i).asDouble(), values[i], name + " value " + i);
                ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                for (float f : values) bytes.putFloat(f);
                assertEquals(want.get("sha256").asText(),
                        HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.array())), name);
            }
        }
        assertTrue(types.containsAll(List.of("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")), types.toString());
    }

    @Test
    void configTokenizerAndChatTemplateComeFromTheMetadata() throws Exception {
        JsonNode golden = golden();
        JsonNode c = golden.get("config");
        LlamaConfig config = LlamaConfig.read(file());
        assertEquals(new LlamaConfig(c.get("hidden_size").asInt(), c.get("intermediate_size").asInt(), c.get("num_hidden_layers").asInt(),
                c.get("num_attention_heads").asInt(), c.get("num_key_value_heads").asInt(), c.get("head_dim").asInt(),
                c.get("vocab_size").asInt(), c.get("max_position_embeddings").asInt(), c.get("rms_norm_eps").asDouble(),
                c.get("rope_theta").asDouble(), null, false, 1, List.of(2), false, false, null), config);

        Tokenizer tokenizer = Tokenizers.load(file());
        JsonNode tokens = golden.get("tokens");
        assertEquals(tokens.size(), tokenizer.vocabSize());
        for (int id = 0; id < tokens.size(); id++) assertEquals(tokens.get(id).asText(), tokenizer.token(id));
        assertEquals(1, tokenizer.bosId());
        assertEquals(2, tokenizer.eosId());
        // "▁the": ▁ t h e → ▁t (score −1) → he (−2) → ▁the (−0.5); no byte pieces, so é is the unknown id 0
        assertArrayEquals(new int[] {1, 6}, tokenizer.encode("the"));
        int g = tokenizer.id("g").getAsInt();   // the vocabulary has a to x
        assertArrayEquals(new int[] {1, 6, 4, g, g, 3, 0}, tokenizer.encode("the tgg é"));
        assertEquals("the tgg", tokenizer.decode(new int[] {1, 6, 4, g, g, 2}));

        ChatTemplate template = ChatTemplate.read(file(), tokenizer).orElseThrow();
        assertEquals("<|user|>hi<|im_end|>", template.render(List.of(new ChatTemplate.Message("user", "hi")), false));
    }

    @Test
    void logitsAreTransformersOnTheDequantisedWeights() throws Exception {
        JsonNode logits = golden().get("logits");
        int[] tokens = new int[logits.get("tokens").size()];
        for (int i = 0; i < tokens.length; i++) tokens[i] = logits.get("tokens").get(i).asInt();
        try (Llm llm = Llm.open(file())) {
            float[][] rows = llm.allLogits(tokens);
            float[] last = llm.logits(tokens);
            double max = 0;
            for (int t = 0; t < tokens.length; t++) {
                for (int v = 0; v < rows[t].length; v++) {
                    max = Math.max(max, Math.abs(rows[t][v] - logits.get("values").get(t).get(v).asDouble()));
                }
            }
            for (int v = 0; v < last.length; v++) {
                max = Math.max(max, Math.abs(last[v] - logits.get("values").get(tokens.length - 1).get(v).asDouble()));
            }
            // the same F32 weights, summed in another order: float rounding of logits of about 1
            assertTrue(max < 1e-5, "logits differ from transformers' by " + max);
        }
    }

    @Test
    void versionTwoReadsTheSame() throws Exception {
        byte[] bytes = Files.readAllBytes(file());
        bytes[4] = 2;
        Path v2 = Files.write(tmp.resolve("v2.gguf"), bytes);
        try (GgufFile a = GgufFile.open(file()); GgufFile b = GgufFile.open(v2)) {
            assertEquals(2, b.version());
            assertEquals(a.metadata().keySet(), b.metadata().keySet());
            assertEquals(a.tensors().toString(), b.tensors().toString());
        }
    }

    @Test
    void detectedByMagicWhateverTheName() throws Exception {
        Path renamed = Files.copy(file(), tmp.resolve("model.bin"));
        assertTrue(GgufFile.isGguf(renamed));
        assertEquals(LlamaConfig.read(file()), LlamaConfig.read(renamed));
        assertTrue(!GgufFile.isGguf(tmp) && !GgufFile.isGguf(tmp.resolve("absent.gguf")));
    }
}
