package dev.retort.distill.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Damaged, truncated and mismatched caches give one-line errors that name the file. The damage is done by
 * following the layout documented in teacher_cache.fbs with the few FlatBuffers reads below, independently of
 * the reader's code.
 */
class TeacherCacheErrorsTest {
    @TempDir
    Path dir;

    private static final int VOCAB = 9;
    private static final int K = 2;
    private static final int SEQUENCES = 12;

    /** A valid cache of 12 sequences of 3 tokens, one sequence per block. */
    private Path validCache() {
        CacheDescription d = new CacheDescription("teacher", "/t", VOCAB, K, 1f, 5, "sha256:vocab-a", "data.bin", "");
        Path file = dir.resolve("cache.rtkc");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(file, d, new ThreadPool(1), 100)) {
            for (int s = 0; s < SEQUENCES; s++) {
                float[] logits = new float[3 * VOCAB];
                for (int i = 0; i < logits.length; i++) logits[i] = (i * 7 + s) % 5;
                writer.append(new int[] {s % VOCAB, 1, 2}, logits);
            }
            writer.finish();
        }
        return file;
    }

    // --- The layout, read directly from the bytes. ---

    private static int u32(ByteBuffer b, long at) {
        return b.getInt((int) at);
    }

    private static long metadataStart() {
        return 12;
    }

    private static long indexStart(ByteBuffer b) {
        return b.getLong(b.limit() - 12) + 4; // after the index's size prefix
    }

    /** Position of field {@code id} of the root table of the FlatBuffer at {@code base}. */
    private static long field(ByteBuffer b, long base, int id) {
        long root = base + u32(b, base);
        long vtable = root - u32(b, root);
        int offset = Short.toUnsignedInt(b.getShort((int) (vtable + 4 + 2 * id)));
        assertTrue(offset != 0, "field " + id + " should be present");
        return root + offset;
    }

    /** Position of a vector field's length word. */
    private static long vector(ByteBuffer b, long base, int id) {
        long at = field(b, base, id);
        return at + u32(b, at);
    }

    private static long blockOffset(ByteBuffer b, int block) {
        return b.getLong((int) (vector(b, indexStart(b), 0) + 4 + 8L * block));
    }

    /** Where block {@code block}'s FlatBuffer starts (after its size prefix). */
    private static long block(ByteBuffer b, int block) {
        return blockOffset(b, block) + 4;
    }

    // --- The cases. ---

    /** A way to damage a valid cache, whether the damage shows at open or only when reading, and the error. */
    record Damage(String name, Consumer<ByteBuffer> damage, boolean atOpen, String problem) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Damage> damages() {
        return Stream.of(
                new Damage("wrong magic", b -> b.put(0, "GGUF".getBytes()), true,
                        "not a teacher cache: starts with \"GGUF\" instead of \"RTKC\""),
                new Damage("binary magic", b -> b.putInt(0, 0x04030201), true,
                        "not a teacher cache: starts with 0x01020304 instead of \"RTKC\""),
                new Damage("newer version", b -> b.putInt(4, 3), true, "format version 3; this Retort reads versions 1 and 2"),
                new Damage("no end marker", b -> b.putInt(b.limit() - 4, 0), true,
                        "truncated or unfinished: the last 4 bytes are 0x00000000, not the end marker \"RTKE\""),
                new Damage("metadata longer than the file", b -> b.putInt(8, 0x7fff_fff0), true,
                        "bytes of metadata and a trailer after it"),
                new Damage("metadata root outside", b -> b.putInt(12, 1_000_000), true,
                        "the metadata is corrupt: the root table offset points outside the buffer"),
                new Damage("vocab size 0", b -> b.putInt((int) field(b, metadataStart(), 2), 0), true,
                        "the metadata is corrupt: vocab size must be >= 1, got 0"),
                new Damage("top-k above the vocabulary", b -> b.putInt((int) field(b, metadataStart(), 3), 10), true,
                        "the metadata is corrupt: top-k must be in [1, vocab size = 9], got 10"),
                new Damage("negative sequence count", b -> b.putLong((int) field(b, metadataStart(), 6), -1), true,
                        "the metadata is corrupt: sequence_count -1 is outside [0, 2147483647]"),
                new Damage("index offset past the end", b -> b.putLong(b.limit() - 12, b.limit()), true,
                        "the trailer's index offset"),
                new Damage("index offset misaligned", b -> b.putLong(b.limit() - 12, b.getLong(b.limit() - 12) - 4), true,
                        "the trailer's index offset"),
                new Damage("block offset inside the header", b -> b.putLong((int) vector(b, indexStart(b), 0) + 4, 0), true,
                        "the block index puts block 0 at byte 0, not an aligned position after the previous block"),
                new Damage("first sequences out of order",
                        b -> b.putInt((int) vector(b, indexStart(b), 1) + 4 + 4 * 5, 2), true,
                        "the block index says block 5 starts at sequence 2; expected a sequence after 4 and below 12"),
                new Damage("index shorter than the metadata's count",
                        b -> b.putLong((int) field(b, metadataStart(), 6), SEQUENCES + 3), false,
                        "block 11 (at byte"),
                new Damage("block names another first sequence", b -> b.putInt((int) field(b, block(b, 4), 0), 99), false,
                        "is corrupt: it starts at sequence 99 but the index says 4"),
                new Damage("block longer than its room", b -> b.putInt((int) blockOffset(b, 6), 1 << 20), false,
                        "bytes run past where the next part of the file starts"),
                new Damage("block root outside", b -> b.putInt((int) block(b, 7), -8), false,
                        "block 7 (at byte"),
                new Damage("tokens vector too long", b -> b.putInt((int) vector(b, block(b, 8), 2), 1_000_000), false,
                        "tokens claims 1000000 elements, which run past the end of the buffer"),
                new Damage("tokens vector too short", b -> b.putInt((int) vector(b, block(b, 8), 2), 2), false,
                        "tokens has 2 entries; expected n = 3"),
                new Damage("token id outside the vocabulary",
                        b -> b.putInt((int) vector(b, block(b, 9), 2) + 4, 1000), false,
                        "sequence 9 has token id 1000 outside the vocabulary [0, 9)"),
                new Damage("top id outside the vocabulary",
                        b -> b.putInt((int) vector(b, block(b, 10), 3) + 8, -1), false,
                        "sequence 10 has top-k id -1 outside the vocabulary [0, 9)"),
                new Damage("sequence longer than the maximum",
                        b -> b.putInt((int) vector(b, block(b, 3), 1) + 8, 6), false,
                        "sequence 3 has 6 tokens; expected 1 to 5"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("damages")
    void aDamagedCacheGivesAOneLineErrorNamingTheFile(Damage damage) throws IOException {
        Path file = validCache();
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        damage.damage().accept(bytes);
        CacheChecksums.reseal(bytes);  // so that the reader's structural checks, not the checksum, meet the damage
        Files.write(file, bytes.array());
        TeacherCacheException e = assertThrows(TeacherCacheException.class, () -> {
            if (damage.atOpen()) {
                TeacherCache.open(file).close();
                return;
            }
            try (TeacherCache cache = TeacherCache.open(file)) {
                for (int s = 0; s < cache.sequenceCount(); s++) {
                    cache.tokens(s);
                    cache.topK(s);
                }
            }
        }, damage.name());
        assertOneLineAbout(file, damage.problem(), e);
    }

    /** The writer's checksum is the one teacher_cache.fbs defines. */
    @Test
    void theRecordedChecksumIsTheDocumentedCrc() throws IOException {
        Path file = validCache();
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        long recorded = b.getLong((int) field(b, indexStart(b), 2));
        assertEquals(CacheChecksums.compute(b), recorded);
    }

    /**
     * One flipped bit anywhere before the index — header, metadata, token ids, top-k ids, logits, padding — is
     * refused at open, where without the checksum a flipped logit or id inside the vocabulary read as valid.
     */
    @Test
    void everySingleBitFlipBeforeTheIndexIsRefusedAtOpen() throws IOException {
        Path file = validCache();
        byte[] whole = Files.readAllBytes(file);
        int indexOffset = (int) ByteBuffer.wrap(whole).order(ByteOrder.LITTLE_ENDIAN).getLong(whole.length - 12);
        for (int at = 0; at < indexOffset; at++) {
            byte[] damaged = whole.clone();
            damaged[at] ^= (byte) (1 << (at % 8));
            Files.write(file, damaged);
            int position = at;
            TeacherCacheException e = assertThrows(TeacherCacheException.class, () -> TeacherCache.open(file).close(),
                    "bit " + (at % 8) + " of byte " + at + " flipped");
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage() + " at " + position);
        }
    }

    @Test
    void aDamagedBlockIsRefusedByTheChecksumWithAdvice() throws IOException {
        Path file = validCache();
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        int logit = (int) vector(b, block(b, 5), 4) + 4;
        b.putFloat(logit, b.getFloat(logit) + 1);   // a plausible logit: no structural check could notice
        Files.write(file, b.array());
        assertOneLineAbout(file, "its contents do not match its checksum",
                assertThrows(TeacherCacheException.class, () -> TeacherCache.open(file)));
        assertOneLineAbout(file, "re-run cache-teacher", assertThrows(TeacherCacheException.class, () -> TeacherCache.open(file)));
    }

    @Test
    void aVersion1CacheWithoutChecksumIsStillReadAndAVersion2OneWithoutIsRefused() throws IOException {
        Path file = validCache();
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        long root = indexStart(b) + u32(b, indexStart(b));
        long vtable = root - u32(b, root);
        b.putShort((int) (vtable + 4 + 2 * 2), (short) 0);   // the index loses its checksum field
        Files.write(file, b.array());
        assertOneLineAbout(file, "has no checksum in its block index, which version 2 requires; re-run cache-teacher",
                assertThrows(TeacherCacheException.class, () -> TeacherCache.open(file)));
        b.putInt(4, 1);
        Files.write(file, b.array());
        try (TeacherCache cache = TeacherCache.open(file)) {
            assertEquals(SEQUENCES, cache.sequenceCount());
            for (int s = 0; s < SEQUENCES; s++) cache.topK(s);
        }
    }

    @Test
    void truncatedFilesAreReportedAsTruncated() throws IOException {
        Path file = validCache();
        byte[] whole = Files.readAllBytes(file);
        for (int length : new int[] {0, 3, 11, 12, 40, whole.length / 2, whole.length - 13, whole.length - 1}) {
            Files.write(file, Arrays.copyOf(whole, length));
            TeacherCacheException e = assertThrows(TeacherCacheException.class, () -> TeacherCache.open(file),
                    "a file cut to " + length + " bytes");
            assertOneLineAbout(file, "truncated", e);
        }
    }

    @Test
    void aCacheFromAnotherTokenizerIsRefused() {
        Path file = validCache();
        TeacherCache.open(file, "sha256:vocab-a").close();
        TeacherCacheException e = assertThrows(TeacherCacheException.class,
                () -> TeacherCache.open(file, "sha256:vocab-b"));
        assertEquals(file + ": made with another tokenizer (vocabulary hash sha256:vocab-a); expected sha256:vocab-b",
                e.getMessage());
    }

    @Test
    void vocabularyAndTopKMismatchesAndBadIndicesAreRefused() {
        Path file = validCache();
        try (TeacherCache cache = TeacherCache.open(file)) {
            cache.requireVocabSize(VOCAB);
            cache.requireTopK(K);
            assertOneLineAbout(file, "holds logits over a vocabulary of 9 ids; expected 32000",
                    assertThrows(TeacherCacheException.class, () -> cache.requireVocabSize(32000)));
            assertOneLineAbout(file, "keeps the top 2 logits per token; expected 4",
                    assertThrows(TeacherCacheException.class, () -> cache.requireTopK(4)));
            for (int bad : new int[] {-1, SEQUENCES}) {
                assertOneLineAbout(file, "sequence " + bad + " is out of range; the cache holds 12 (0 to 11)",
                        assertThrows(TeacherCacheException.class, () -> cache.topK(bad)));
            }
        }
    }

    @Test
    void aMissingFileIsNamed() {
        Path file = dir.resolve("nowhere.rtkc");
        assertOneLineAbout(file, "file not found", assertThrows(TeacherCacheException.class, () -> TeacherCache.open(file)));
    }

    private static void assertOneLineAbout(Path file, String problem, TeacherCacheException e) {
        String message = e.getMessage();
        assertTrue(message.startsWith(file + ": "), "should start with the file: " + message);
        assertTrue(message.contains(problem), "expected <" + problem + "> in <" + message + ">");
        assertFalse(message.contains("\n"), "one line: " + message);
        assertEquals(file, e.file());
    }
}
