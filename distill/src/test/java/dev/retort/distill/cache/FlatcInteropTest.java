package dev.retort.distill.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hand-written accessors agree with the FlatBuffers reference compiler, flatc, on the schema in
 * distill/src/main/fbs/teacher_cache.fbs: the reader decodes buffers flatc encoded, and flatc decodes buffers
 * the writer encoded.
 */
class FlatcInteropTest {
    @TempDir
    Path dir;

    private static final Path SCHEMA = Path.of(System.getProperty("retort.root", "."))
            .resolve("distill/src/main/fbs/teacher_cache.fbs");

    /*
     * Encoded by flatc 2.0.8 (Debian flatbuffers-compiler) from the JSON shown, with
     *   flatc -b teacher_cache.fbs meta.json
     *   flatc -b --root-type dev.retort.distill.cache.fb.SequenceBlock teacher_cache.fbs block.json
     *   base64 -w0 meta.bin; base64 -w0 block.bin
     *
     * meta.json: {"teacher_name": "stories15M", "teacher_path": "/models/stories15M", "vocab_size": 512,
     *   "top_k": 4, "temperature": 2.0, "sequence_length": 256, "sequence_count": 3, "token_count": 700,
     *   "tokenizer_hash": "sha256:v", "data_name": "tiny.txt", "data_hash": "sha256:d"}
     * block.json: {"first_sequence": 5, "sequence_starts": [0, 2, 3], "tokens": [1, 511, 7],
     *   "top_ids": [3, 1, 0, 2, 9, 8], "top_logits": [2.5, -0.75, 1.0, 1.0, 0.125, -3.0],
     *   "rest_lse": [-1.5, 4.25, -0.5]}
     */
    private static final String FLATC_METADATA = "IAAAAAAAGgA4AAQACAAMABAAFAAYACgAMAAcACAAJAAaAAAAfAAAAGAAAAAAAg"
            + "AABAAAAAAAAEAAAQAAPAAAACgAAAAUAAAAAwAAAAAAAAC8AgAAAAAAAAgAAABzaGEyNTY6ZAAAAAAIAAAAdGlueS50eHQAAAAACAAA"
            + "AHNoYTI1Njp2AAAAABIAAAAvbW9kZWxzL3N0b3JpZXMxNU0AAAoAAABzdG9yaWVzMTVNAAA=";
    private static final String FLATC_BLOCK = "FAAAABAAHAAEAAgADAAQABQAGAAQAAAABQAAAGwAAABYAAAAOAAAABgAAAAEAAAAAwAA"
            + "AAAAwL8AAIhAAAAAvwYAAAAAACBAAABAvwAAgD8AAIA/AAAAPgAAQMAGAAAAAwAAAAEAAAAAAAAAAgAAAAkAAAAIAAAAAwAAAAEA"
            + "AAD/AQAABwAAAAMAAAAAAAAAAgAAAAMAAAA=";

    private static ByteBuffer decode(String base64) {
        return ByteBuffer.wrap(Base64.getDecoder().decode(base64)).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void theReaderDecodesBuffersThatFlatcEncoded() {
        Path file = Path.of("flatc-golden");
        CacheMetadata metadata = CacheMetadataTable.read(decode(FLATC_METADATA), file);
        assertEquals(new CacheMetadata(new CacheDescription("stories15M", "/models/stories15M", 512, 4, 2f, 256,
                "sha256:v", "tiny.txt", "sha256:d"), 3, 700), metadata);

        SequenceBlockTable block = new SequenceBlockTable(decode(FLATC_BLOCK), file, "block", 5, 2, 2, 4);
        assertEquals(2, block.sequenceLength(5));
        assertEquals(1, block.sequenceLength(6));
        int[] tokens = new int[2];
        block.tokens(5, tokens, 512);
        assertArrayEquals(new int[] {1, 511}, tokens);
        block.tokens(6, tokens, 512);
        assertEquals(7, tokens[0]);
        int[] ids = new int[4];
        float[] logits = new float[4];
        float[] rest = new float[2];
        block.topK(5, ids, logits, rest, 512);
        assertArrayEquals(new int[] {3, 1, 0, 2}, ids);
        assertArrayEquals(new float[] {2.5f, -0.75f, 1f, 1f}, logits);
        assertArrayEquals(new float[] {-1.5f, 4.25f}, rest);
        block.topK(6, ids, logits, rest, 512);
        assertArrayEquals(new int[] {9, 8}, Arrays.copyOf(ids, 2));
        assertArrayEquals(new float[] {0.125f, -3f}, Arrays.copyOf(logits, 2));
        assertEquals(-0.5f, rest[0]);
    }

    @Test
    void flatcDecodesWhatTheWriterWrote() throws IOException, InterruptedException {
        Assumptions.assumeTrue(flatcAvailable(), "flatc not on the PATH (Debian: apt-get install flatbuffers-compiler)");
        Assumptions.assumeTrue(Files.isRegularFile(SCHEMA), "schema not found at " + SCHEMA);
        CacheDescription d = new CacheDescription("teacher", "/teachers/t", 16, 2, 0.5f, 3, "sha256:v", "d.txt", "");
        Path cache = dir.resolve("cache.rtkc");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(cache, d)) {
            writer.appendTopK(new int[] {4, 15}, new int[] {7, 2, 0, 1}, new float[] {1.5f, -2.25f, 0f, -0f},
                    new float[] {3.125f, -6.5f});
            writer.appendTopK(new int[] {9}, new int[] {11, 12}, new float[] {8f, 8f}, new float[] {0.25f});
            writer.finish();
        }
        byte[] bytes = Files.readAllBytes(cache);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int metadataLength = b.getInt(8);
        long blockOffset = CacheFileLayout.align(12 + metadataLength);
        int blockLength = b.getInt((int) blockOffset);

        JsonNode metadata = flatcJson(Arrays.copyOfRange(bytes, 12, 12 + metadataLength), null);
        assertEquals("teacher", metadata.get("teacher_name").asText());
        assertEquals("/teachers/t", metadata.get("teacher_path").asText());
        assertEquals(16, metadata.get("vocab_size").asInt());
        assertEquals(2, metadata.get("top_k").asInt());
        assertEquals(0.5, metadata.get("temperature").asDouble());
        assertEquals(3, metadata.get("sequence_length").asInt());
        assertEquals(2, metadata.get("sequence_count").asLong());
        assertEquals(3, metadata.get("token_count").asLong());
        assertEquals("sha256:v", metadata.get("tokenizer_hash").asText());
        assertEquals("d.txt", metadata.get("data_name").asText());
        assertEquals("", metadata.get("data_hash").asText());

        JsonNode block = flatcJson(Arrays.copyOfRange(bytes, (int) blockOffset + 4, (int) blockOffset + 4 + blockLength),
                "dev.retort.distill.cache.fb.SequenceBlock");
        assertEquals(0, block.path("first_sequence").asInt());
        assertEquals(List.of(0.0, 2.0, 3.0), numbers(block.get("sequence_starts")));
        assertEquals(List.of(4.0, 15.0, 9.0), numbers(block.get("tokens")));
        assertEquals(List.of(7.0, 2.0, 0.0, 1.0, 11.0, 12.0), numbers(block.get("top_ids")));
        assertEquals(List.of(1.5, -2.25, 0.0, -0.0, 8.0, 8.0), numbers(block.get("top_logits")));
        assertEquals(List.of(3.125, -6.5, 0.25), numbers(block.get("rest_lse")));
    }

    private static List<Double> numbers(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).map(JsonNode::asDouble).toList();
    }

    private JsonNode flatcJson(byte[] flatbuffer, String rootType) throws IOException, InterruptedException {
        Path bin = Files.write(dir.resolve("buffer.bin"), flatbuffer);
        Path out = dir.resolve("json");
        List<String> command = new java.util.ArrayList<>(List.of("flatc", "--json", "--strict-json", "--raw-binary",
                "--defaults-json", "-o", out.toString()));
        if (rootType != null) command.addAll(List.of("--root-type", rootType));
        command.addAll(List.of(SCHEMA.toString(), "--", bin.toString()));
        Process flatc = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(flatc.getInputStream().readAllBytes());
        if (!flatc.waitFor(20, TimeUnit.SECONDS) || flatc.exitValue() != 0) {
            throw new AssertionError("flatc failed: " + command + "\n" + output);
        }
        return new ObjectMapper().readTree(out.resolve("buffer.json").toFile());
    }

    private static boolean flatcAvailable() {
        try {
            Process p = new ProcessBuilder("flatc", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }
}
