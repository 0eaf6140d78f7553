package dev.retort.models.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.Llm;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One hostile GGUF file per validation rule, as {@code SafetensorsHostileFilesTest} has for safetensors: each must
 * fail with a {@link ModelFileException} (or, for the tokenizer, its checked twin) whose one-line message is the
 * file, ": " and the problem — never an overflow, an out-of-bounds read or an allocation the file chose.
 */
class GgufHostileFilesTest {
    @TempDir
    Path dir;

    /** A little-endian byte builder for GGUF files. */
    static final class Bytes {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Bytes u8(int v) { out.write(v); return this; }
        Bytes u32(long v) { return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array()); }
        Bytes u64(long v) { return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array()); }
        Bytes str(String s) { return str(s.getBytes(StandardCharsets.UTF_8)); }
        Bytes str(byte[] s) { return u64(s.length).raw(s); }
        Bytes raw(byte[] b) { out.write(b, 0, b.length); return this; }
        Bytes pad(int alignment) { while (out.size() % alignment != 0) out.write(0); return this; }
        Bytes kvString(String key, String value) { return str(key).u32(8).str(value); }
        Bytes kvU32(String key, long value) { return str(key).u32(4).u32(value); }
        /** A tensor info: name, dims (ggml order), type, offset. */
        Bytes tensor(String name, long type, long offset, long... dims) {
            str(name).u32(dims.length);
            for (long d : dims) u64(d);
            return u32(type).u64(offset);
        }
        byte[] bytes() { return out.toByteArray(); }
    }

    /** magic, version, counts, then what {@code body} writes (key/values and tensor infos), padding and data. */
    static byte[] gguf(int version, long tensors, long kvs, Consumer<Bytes> body, int dataBytes) {
        Bytes b = new Bytes().u32(GgufFile.MAGIC).u32(version).u64(tensors).u64(kvs);
        body.accept(b);
        b.pad(32);
        return b.raw(new byte[dataBytes]).bytes();
    }

    static byte[] gguf(long tensors, long kvs, Consumer<Bytes> body, int dataBytes) {
        return gguf(3, tensors, kvs, body, dataBytes);
    }

    /** One F32 tensor of 8 after one key: a valid file. */
    static byte[] oneTensor(Consumer<Bytes> tensorInfo, int dataBytes) {
        return gguf(1, 1, b -> { b.kvString("general.architecture", "llama"); tensorInfo.accept(b); }, dataBytes);
    }

    static byte[] truncate(byte[] bytes, int length) {
        return java.util.Arrays.copyOf(bytes, length);
    }

    /**
     * @param problem the message after "file: ", or its start when it ends with "…"
     * @param open    what reads the file (the header check by default)
     */
    record Case(String rule, byte[] bytes, String problem, Function<Path, ?> open) {
        Case(String rule, byte[] bytes, String problem) {
            this(rule, bytes, problem, GgufFile::open);
        }

        @Override
        public String toString() {
            return rule;
        }
    }

    static final byte[] VALID = oneTensor(b -> b.tensor("a", 0, 0, 8), 32);

    static Stream<Case> cases() {
        byte[] notUtf8 = {(byte) 0xff, 'a'};
        return Stream.of(
                new Case("empty file", new byte[0], "file is 0 bytes, shorter than the 24-byte GGUF header"),
                new Case("not GGUF", "{\"hello\": \"safetensors?\"}".getBytes(StandardCharsets.UTF_8),
                        "does not start with the GGUF magic (found bytes 7b 22 68 65); expected a GGUF file"),
                new Case("version 1", gguf(1, 0, 0, b -> { }, 0), "GGUF version 1 is not supported (only versions 2 and 3)"),
                new Case("big-endian version", gguf(0x03000000, 0, 0, b -> { }, 0),
                        "GGUF version 50331648 (a big-endian file?) is not supported (only versions 2 and 3)"),
                new Case("version 4", gguf(4, 0, 0, b -> { }, 0), "GGUF version 4 is not supported (only versions 2 and 3)"),
                new Case("tensor count with the top bit set", gguf(Long.MIN_VALUE, 0, b -> { }, 0),
                        "tensor count 9223372036854775808 exceeds Retort's limit of 16777216"),
                new Case("tensor count the file cannot hold", gguf(1000, 0, b -> { }, 0),
                        "tensor count 1000 is more than the 16 bytes left in the file can hold"),
                new Case("key/value count over the limit", gguf(0, 1L << 40, b -> { }, 0),
                        "key/value count 1099511627776 exceeds Retort's limit of 16777216"),
                new Case("header cut inside the key/values", truncate(gguf(0, 1, b -> b.kvString("general.architecture", "llama"), 0), 40),
                        "key 0 of 1 has length 20, past the end of the file (8 bytes left)"),
                new Case("header cut inside the tensor infos", truncate(VALID, 70), "the file ends (at 70 bytes) inside …"),
                new Case("key length past the end of the file", gguf(0, 1, b -> b.u64(-1), 64),
                        "key 0 of 1 has length 18446744073709551615, past the end of the file (64 bytes left)"),
                new Case("key not UTF-8", gguf(0, 1, b -> b.str(notUtf8).u32(4).u32(1), 0), "key 0 of 1 is not valid UTF-8"),
                new Case("empty key", gguf(0, 1, b -> b.str("").u32(4).u32(1), 0), "key 0 is empty"),
                new Case("duplicate key", gguf(0, 2, b -> b.kvU32("k", 1).kvU32("k", 2), 0), "key 'k' appears twice"),
                new Case("unknown value type", gguf(0, 1, b -> b.str("k").u32(13).u32(0), 0), "key 'k' has unknown value type 13"),
                new Case("array of arrays", gguf(0, 1, b -> b.str("k").u32(9).u32(9).u64(1), 32),
                        "key 'k' is an array of arrays, which GGUF readers do not support"),
                new Case("array length past the end of the file", gguf(0, 1, b -> b.str("k").u32(9).u32(4).u64(1L << 20), 32),
                        "key 'k' array length 1048576 is more than the 47 bytes left in the file can hold"),
                new Case("string array whose strings run past the end", gguf(0, 1, b -> b.str("k").u32(9).u32(8).u64(2).u64(1000), 32),
                        "key 'k' element 0 has length 1000, past the end of the file (39 bytes left)"),
                new Case("string value past the end", gguf(0, 1, b -> b.str("k").u32(8).u64(Long.MAX_VALUE), 0),
                        "key 'k' has length 9223372036854775807, past the end of the file (…"),
                new Case("bool neither 0 nor 1", gguf(0, 1, b -> b.str("k").u32(7).u8(2), 0), "key 'k' is a BOOL of value 2; expected 0 or 1"),
                new Case("alignment not a u32", gguf(0, 1, b -> b.kvString("general.alignment", "32"), 0),
                        "general.alignment is a STRING; expected a UINT32"),
                new Case("alignment not a power of two", gguf(0, 1, b -> b.kvU32("general.alignment", 48), 0),
                        "general.alignment 48 is not a power of two"),
                new Case("alignment zero", gguf(0, 1, b -> b.kvU32("general.alignment", 0), 0), "general.alignment 0 is not a power of two"),
                new Case("tensor name length overflow", oneTensor(b -> b.u64(-8), 32),
                        "the name of tensor 0 of 1 has length 18446744073709551608, past the end of the file (…"),
                new Case("tensor name over ggml's 63 bytes", oneTensor(b -> b.tensor("x".repeat(64), 0, 0, 8), 32),
                        "tensor name '" + "x".repeat(64) + "' is 64 bytes, longer than ggml's 63"),
                new Case("tensor name not UTF-8", oneTensor(b -> b.str(notUtf8).u32(1).u64(8).u32(0).u64(0), 32),
                        "the name of tensor 0 of 1 is not valid UTF-8"),
                new Case("tensor name with a newline", oneTensor(b -> b.tensor("a\nb", 0, 0, 8), 32), "tensor 'a\\u000ab' is not one of a Llama's …",
                        ModelWeights::open),
                new Case("empty tensor name", oneTensor(b -> b.tensor("", 0, 0, 8), 32), "tensor 0 has an empty name"),
                new Case("five dimensions", oneTensor(b -> b.tensor("a", 0, 0, 1, 1, 1, 1, 8), 32),
                        "tensor 'a' has 5 dimensions; GGUF tensors have 1 to 4"),
                new Case("no dimensions", oneTensor(b -> b.tensor("a", 0, 0), 32), "tensor 'a' has 0 dimensions; GGUF tensors have 1 to 4"),
                new Case("dimension count with the top bit set", oneTensor(b -> b.str("a").u32(0x80000001L), 32),
                        "tensor 'a' has 2147483649 dimensions; GGUF tensors have 1 to 4"),
                new Case("zero dimension", oneTensor(b -> b.tensor("a", 0, 0, 8, 0), 32), "tensor 'a' has dimension 0; expected 1 to 2147483647"),
                new Case("negative dimension", oneTensor(b -> b.tensor("a", 0, 0, -8), 32),
                        "tensor 'a' has dimension 18446744073709551608; expected 1 to 2147483647"),
                new Case("dimension of 2^31", oneTensor(b -> b.tensor("a", 0, 0, 1L << 31), 32),
                        "tensor 'a' has dimension 2147483648; expected 1 to 2147483647"),
                new Case("element count overflowing 64 bits",
                        oneTensor(b -> b.tensor("a", 0, 0, Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, 8), 32),
                        "tensor 'a' dims [2147483647, 2147483647, 2147483647, 8] F32 overflow 64-bit sizes"),
                new Case("unknown ggml type", oneTensor(b -> b.tensor("a", 99, 0, 8), 32), "tensor 'a' has unknown ggml type 99"),
                new Case("ggml type with the top bit set", oneTensor(b -> b.tensor("a", 0x80000000L, 0, 8), 32),
                        "tensor 'a' has unknown ggml type 2147483648"),
                new Case("rows not whole blocks", oneTensor(b -> b.tensor("a", GgmlType.Q8_0.id, 0, 16, 2), 64),
                        "tensor 'a' has rows of 16 elements, not a whole number of Q8_0 blocks of 32"),
                new Case("offset not a multiple of the alignment", oneTensor(b -> b.tensor("a", 0, 4, 4), 32),
                        "tensor 'a' offset 4 is not a multiple of the alignment 32"),
                new Case("offset past the end of the file", oneTensor(b -> b.tensor("a", 0, 1L << 40, 8), 32),
                        "tensor 'a' data [1099511627776, +32) runs past the end of the data section (32 bytes)"),
                new Case("offset with the top bit set", oneTensor(b -> b.tensor("a", 0, Long.MIN_VALUE, 8), 32),
                        "tensor 'a' data [9223372036854775808, +32) runs past the end of the data section (32 bytes)"),
                new Case("data cut short", oneTensor(b -> b.tensor("a", 0, 0, 8), 16),
                        "tensor 'a' data [0, +32) runs past the end of the data section (16 bytes)"),
                new Case("data section starting past the end", truncate(VALID, 110),
                        "the data section would start at byte 128, past the end of the file (110 bytes)"),
                new Case("overlapping tensors", gguf(2, 0, b -> b.tensor("a", 0, 0, 16).tensor("b", 0, 32, 8), 64),
                        "tensor 'b' data at 32 overlaps tensor 'a' [0, 64)"),
                new Case("duplicate tensor name", gguf(2, 0, b -> b.tensor("a", 0, 0, 8).tensor("a", 0, 32, 8), 64),
                        "tensor 'a' appears twice"),
                // what a Llama reader refuses in files whose header is sound
                new Case("not a Llama tensor", oneTensor(b -> b.tensor("a", 0, 0, 8), 32),
                        "tensor 'a' is not one of a Llama's (token_embd, blk.N.attn_*/ffn_*, output_norm, output)", ModelWeights::open),
                new Case("a K-quant", oneTensor(b -> b.tensor("output_norm.weight", GgmlType.Q4_K.id, 0, 256), 160),
                        "tensor 'output_norm.weight' is Q4_K, which Retort does not read yet (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1)",
                        ModelWeights::open),
                new Case("q rows not heads of even size", gguf(1, 1, b -> b.kvU32("llama.attention.head_count", 3)
                                .tensor("blk.0.attn_q.weight", 0, 0, 8, 9), 288),
                        "tensor 'blk.0.attn_q.weight' has 9 rows, not an even head dimension times the head count 3 (llama.attention.head_count)",
                        ModelWeights::open),
                new Case("another architecture", gguf(0, 1, b -> b.kvString("general.architecture", "qwen2"), 0),
                        "general.architecture is 'qwen2'; Retort reads Llama-family GGUF files (\"llama\")", LlamaConfig::read),
                new Case("a hyperparameter of the wrong type", gguf(0, 2, b -> b.kvString("general.architecture", "llama")
                                .kvString("llama.embedding_length", "64"), 0),
                        "llama.embedding_length is a STRING; expected an integer", LlamaConfig::read),
                new Case("a hyperparameter missing", gguf(0, 1, b -> b.kvString("general.architecture", "llama"), 0),
                        "has no key llama.embedding_length", LlamaConfig::read),
                new Case("a byte-level BPE tokenizer without tokens", gguf(0, 1, b -> b.kvString("tokenizer.ggml.model", "gpt2"), 0),
                        "has no tokenizer.ggml.tokens", GgufHostileFilesTest::tokenizer),
                new Case("a byte-level BPE tokenizer without merges", gguf(0, 2, b -> b.kvString("tokenizer.ggml.model", "gpt2")
                                .str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1).str("a"), 0),
                        "has a byte-level BPE tokenizer without tokenizer.ggml.merges", GgufHostileFilesTest::tokenizer),
                new Case("a byte-level pre-tokenizer Retort does not know", gguf(0, 4, b -> b.kvString("tokenizer.ggml.model", "gpt2")
                                .str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1).str("a")
                                .str("tokenizer.ggml.merges").u32(9).u32(8).u64(0).kvString("tokenizer.ggml.pre", "qwen2"), 0),
                        "tokenizer.ggml.pre is 'qwen2'; Retort reads the byte-level pre-tokenizers llama-bpe and gpt-2 from GGUF",
                        GgufHostileFilesTest::tokenizer),
                new Case("token types longer than the tokens", gguf(0, 3, b -> b.kvString("tokenizer.ggml.model", "llama")
                                .str("tokenizer.ggml.tokens").u32(9).u32(8).u64(1).str("<unk>")
                                .str("tokenizer.ggml.token_type").u32(9).u32(5).u64(2).u32(2).u32(1), 0),
                        "tokenizer.ggml.token_type has 2 entries for 1 tokens", GgufHostileFilesTest::tokenizer),
                new Case("a Llama GGUF through Llm.open", gguf(0, 1, b -> b.kvString("general.architecture", "gpt2"), 0),
                        "has no tokenizer (tokenizer.ggml.model)", Llm::open));
    }

    private static Object tokenizer(Path file) {
        try {
            return Tokenizers.load(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e.getMessage(), e);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void refusedInOneLineNamingTheFile(Case c) throws Exception {
        Path file = Files.write(dir.resolve("hostile.gguf"), c.bytes());
        RuntimeException e = assertThrows(RuntimeException.class, () -> c.open().apply(file));
        assertTrue(e instanceof ModelFileException || e instanceof java.io.UncheckedIOException, e.toString());
        String message = e.getMessage();
        assertFalse(message.contains("\n"), message);
        String prefix = file + ": ";
        assertTrue(message.startsWith(prefix), message);
        String problem = message.substring(prefix.length());
        if (c.problem().endsWith("…")) {
            String start = c.problem().substring(0, c.problem().length() - 1);
            assertTrue(problem.startsWith(start), problem);
        } else {
            assertEquals(c.problem(), problem);
        }
    }

    @Test
    void theValidBaseOpens() throws Exception {
        Path file = Files.write(dir.resolve("valid.gguf"), VALID);
        try (GgufFile f = GgufFile.open(file)) {
            assertEquals(1, f.tensors().size());
            assertEquals(32, f.data(f.tensors().get("a")).byteSize());
        }
    }

    @Test
    void everyTruncationOfTheGoldenFileIsRefusedInOneLine() throws Exception {
        byte[] golden = Files.readAllBytes(GgufGoldenTest.file());
        Path file = dir.resolve("cut.gguf");
        for (int length = 0; length < golden.length; length += length < 2048 ? 1 : 97) {
            Files.write(file, truncate(golden, length));
            ModelFileException e = assertThrows(ModelFileException.class, () -> GgufFile.open(file).close(), "cut at " + length);
            assertFalse(e.getMessage().contains("\n"));
            assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
        }
    }
}
