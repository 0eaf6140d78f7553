package dev.retort.distill.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import dev.retort.distill.loss.TopKTest;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TeacherCacheRoundTripTest {
    @TempDir
    Path dir;

    /** A sequence as appended: its tokens [T] and dense logits [T × V]. */
    record Sequence(int[] tokens, float[] logits) {}

    static CacheDescription description(int vocab, int k, float temperature, int maxLength) {
        return new CacheDescription("stories-teacher", "/models/stories-teacher", vocab, k, temperature, maxLength,
                "sha256:vocab-a", "train.bin", "sha256:data");
    }

    static List<Sequence> randomSequences(Random random, int count, int vocab, int maxLength) {
        List<Sequence> sequences = new ArrayList<>();
        for (int s = 0; s < count; s++) {
            int length = 1 + random.nextInt(maxLength);
            int[] tokens = random.ints(length, 0, vocab).toArray();
            float[] logits = new float[length * vocab];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = random.nextInt(8) == 0 ? random.nextInt(3) : (float) (random.nextGaussian() * 3);
            }
            sequences.add(new Sequence(tokens, logits));
        }
        return sequences;
    }

    static Path write(Path file, CacheDescription d, List<Sequence> sequences, ThreadPool pool, long blockBytes) {
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(file, d, pool, blockBytes)) {
            for (Sequence s : sequences) writer.append(s.tokens(), s.logits());
            writer.finish();
        }
        return file;
    }

    /** Checks a sequence read back against a full sort and a double rest LSE of its dense logits. */
    static void assertSequence(TeacherCache cache, int index, Sequence expected) {
        CacheDescription d = cache.description();
        int vocab = d.vocabSize();
        int k = d.topK();
        assertArrayEquals(expected.tokens(), cache.tokens(index), "tokens of sequence " + index);
        assertEquals(expected.tokens().length, cache.sequenceLength(index), "length of sequence " + index);
        SequenceTopK top = cache.topK(index);
        assertEquals(expected.tokens().length, top.length());
        for (int t = 0; t < top.length(); t++) {
            int[] order = TopKTest.fullSortOrder(expected.logits(), t * vocab, vocab);
            for (int i = 0; i < k; i++) {
                String where = "sequence " + index + ", token " + t + ", rank " + i;
                assertEquals(order[i], top.ids()[t * k + i], "id at " + where);
                assertEquals(expected.logits()[t * vocab + order[i]], top.logits()[t * k + i], "logit at " + where);
            }
            double rest = TopKTest.restLse(expected.logits(), t * vocab, vocab, k, d.temperature());
            assertEquals(rest, top.restLse()[t], 2e-6 * Math.max(1, Math.abs(rest)),
                    "rest LSE at sequence " + index + ", token " + t);
        }
    }

    @Test
    void sequencesSurviveARoundTripAcrossSeveralBlocks() {
        Random random = new Random(21);
        int vocab = 37; // a prime: no multiple of anything
        int k = 5;
        CacheDescription d = description(vocab, k, 2f, 13);
        List<Sequence> sequences = randomSequences(random, 40, vocab, 13);
        // ~48 bytes per token: blocks of ~3 sequences.
        Path file = write(dir.resolve("cache.rtkc"), d, sequences, new ThreadPool(1), 1000);
        long tokens = sequences.stream().mapToLong(s -> s.tokens().length).sum();
        try (TeacherCache cache = TeacherCache.open(file)) {
            assertEquals(new CacheMetadata(d, 40, tokens), cache.metadata());
            assertEquals(40, cache.sequenceCount());
            assertTrue(cache.blockCount() >= 8, "expected many blocks, got " + cache.blockCount());
            for (int s = 0; s < sequences.size(); s++) assertSequence(cache, s, sequences.get(s));
        }
    }

    @Test
    void kOfOneAndKOfTheWholeVocabularyRoundTrip() {
        Random random = new Random(22);
        int vocab = 11;
        for (int k : new int[] {1, vocab}) {
            CacheDescription d = description(vocab, k, 1f, 6);
            List<Sequence> sequences = randomSequences(random, 7, vocab, 6);
            Path file = write(dir.resolve("k" + k + ".rtkc"), d, sequences, new ThreadPool(1), 200);
            try (TeacherCache cache = TeacherCache.open(file)) {
                for (int s = 0; s < sequences.size(); s++) assertSequence(cache, s, sequences.get(s));
                if (k == vocab) {
                    for (float rest : cache.topK(3).restLse()) assertEquals(Float.NEGATIVE_INFINITY, rest);
                }
            }
        }
    }

    @Test
    void callerProvidedArraysReceiveTheSameDataAsFreshOnes() {
        Random random = new Random(23);
        CacheDescription d = description(19, 3, 1f, 9);
        List<Sequence> sequences = randomSequences(random, 12, 19, 9);
        Path file = write(dir.resolve("cache.rtkc"), d, sequences, new ThreadPool(1), 300);
        try (TeacherCache cache = TeacherCache.open(file)) {
            int[] tokens = new int[9];
            int[] ids = new int[9 * 3];
            float[] logits = new float[9 * 3];
            float[] rest = new float[9];
            for (int s = 0; s < sequences.size(); s++) {
                int length = cache.tokens(s, tokens);
                assertEquals(length, cache.topK(s, ids, logits, rest));
                SequenceTopK fresh = cache.topK(s);
                assertArrayEquals(cache.tokens(s), Arrays.copyOf(tokens, length), "tokens of " + s);
                assertArrayEquals(fresh.ids(), Arrays.copyOf(ids, length * 3), "ids of " + s);
                assertArrayEquals(fresh.logits(), Arrays.copyOf(logits, length * 3), "logits of " + s);
                assertArrayEquals(fresh.restLse(), Arrays.copyOf(rest, length), "rest of " + s);
            }
            assertThrows(IllegalArgumentException.class, () -> cache.topK(0, new int[1], new float[27], new float[9]));
        }
    }

    @Test
    void precomputedTopKIsStoredExactly() {
        CacheDescription d = description(7, 2, 0.5f, 4);
        Path file = dir.resolve("cache.rtkc");
        int[] tokens = {6, 0, 3};
        int[] ids = {6, 1, 0, 2, 5, 4};
        float[] logits = {2.5f, -1f, 0f, -0f, 1e-30f, -3.75f};
        float[] rest = {-1.5f, Float.NEGATIVE_INFINITY, 7.125f};
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(file, d)) {
            writer.appendTopK(tokens, ids, logits, rest);
            writer.appendTopK(new int[] {1}, new int[] {3, 2}, new float[] {1f, 1f}, new float[] {0f});
            assertEquals(2, writer.sequenceCount());
            assertEquals(4, writer.tokenCount());
            writer.finish();
        }
        try (TeacherCache cache = TeacherCache.open(file)) {
            assertEquals(1, cache.blockCount());
            SequenceTopK top = cache.topK(0);
            assertArrayEquals(tokens, cache.tokens(0));
            assertArrayEquals(ids, top.ids());
            assertArrayEquals(logits, top.logits());
            assertArrayEquals(rest, top.restLse());
            assertArrayEquals(new int[] {3, 2}, cache.topK(1).ids());
        }
    }

    @Test
    void anEmptyCacheOpensWithNoSequences() {
        CacheDescription d = description(5, 2, 1f, 4);
        Path file = dir.resolve("empty.rtkc");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(file, d)) {
            writer.finish();
        }
        try (TeacherCache cache = TeacherCache.open(file)) {
            assertEquals(new CacheMetadata(d, 0, 0), cache.metadata());
            assertEquals(0, cache.blockCount());
            assertThrows(TeacherCacheException.class, () -> cache.tokens(0));
        }
    }

    @Test
    void aSequenceInTheMiddleIsReadWithoutAnyEarlierBlock() throws IOException {
        Random random = new Random(24);
        CacheDescription d = description(23, 4, 1f, 10);
        List<Sequence> sequences = randomSequences(random, 30, 23, 10);
        Path file = write(dir.resolve("cache.rtkc"), d, sequences, new ThreadPool(1), 600);
        int middle = 17;
        long middleBlockStart;
        int middleBlock;
        try (TeacherCache cache = TeacherCache.open(file)) {
            middleBlock = cache.blockOf(middle);
            assertTrue(middleBlock >= 2, "sequence " + middle + " should lie beyond block 1, is in " + middleBlock);
            middleBlockStart = cache.blockOffset(middleBlock);
        }
        // Overwrite every byte of every earlier block, table and data alike: reading them could not go unnoticed.
        long dataStart;
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(8);
            dataStart = CacheFileLayout.align(12 + Integer.reverseBytes(raf.readInt()));
            byte[] garbage = new byte[(int) (middleBlockStart - dataStart)];
            Arrays.fill(garbage, (byte) 0xA5);
            raf.seek(dataStart);
            raf.write(garbage);
        }
        CacheChecksums.reseal(file);  // past the checksum, to the reader's lazy block checks
        try (TeacherCache cache = TeacherCache.open(file)) {
            for (int s = middle; s < sequences.size(); s++) assertSequence(cache, s, sequences.get(s));
            TeacherCacheException earlier = assertThrows(TeacherCacheException.class, () -> cache.tokens(0));
            assertTrue(earlier.getMessage().contains("block 0 (at byte " + dataStart + ") is corrupt"),
                    earlier.getMessage());
        }
    }

    @Test
    void theFileDoesNotDependOnTheNumberOfThreads() throws IOException {
        Random random = new Random(25);
        CacheDescription d = description(101, 7, 1.5f, 20);
        List<Sequence> sequences = randomSequences(random, 6, 101, 20);
        Path one = write(dir.resolve("one.rtkc"), d, sequences, new ThreadPool(1), 5000);
        try (ThreadPool pool = new ThreadPool(3)) {
            Path three = write(dir.resolve("three.rtkc"), d, sequences, pool, 5000);
            assertArrayEquals(Files.readAllBytes(one), Files.readAllBytes(three));
        }
    }

    @Test
    void badSequencesAreRefusedAndLeaveTheCacheUsable() {
        CacheDescription d = description(10, 2, 1f, 4);
        Path file = dir.resolve("cache.rtkc");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(file, d)) {
            float[] logits = new float[4 * 10];
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                    () -> writer.append(new int[5], new float[50]));
            assertEquals(file + ": a sequence of 5 tokens; expected 1 to 4", tooLong.getMessage());
            assertThrows(IllegalArgumentException.class, () -> writer.append(new int[] {1, 10}, logits));
            assertThrows(IllegalArgumentException.class, () -> writer.append(new int[] {1, 2}, new float[19]));
            float[] withNan = new float[20];
            withNan[10 + 3] = Float.NaN;
            IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                    () -> writer.append(new int[] {1, 2}, withNan));
            assertEquals(file + ": sequence 0, position 1: teacher logit of token id 3 is NaN; expected a finite "
                    + "number or -Infinity", nan.getMessage());
            assertThrows(IllegalArgumentException.class, () -> writer.appendTopK(new int[] {1},
                    new int[] {1, 2}, new float[] {0f, 1f}, new float[] {0f}));     // logits out of order
            assertThrows(IllegalArgumentException.class, () -> writer.appendTopK(new int[] {1},
                    new int[] {1, 12}, new float[] {1f, 0f}, new float[] {0f}));    // id outside the vocabulary
            assertThrows(IllegalArgumentException.class, () -> writer.appendTopK(new int[] {1},
                    new int[] {1}, new float[] {1f}, new float[] {0f}));            // k entries missing
            writer.append(new int[] {4, 5}, new float[20]);
            writer.finish();
        }
        try (TeacherCache cache = TeacherCache.open(file)) {
            assertEquals(1, cache.sequenceCount());
            assertArrayEquals(new int[] {4, 5}, cache.tokens(0));
            assertArrayEquals(new int[] {0, 1, 0, 1}, cache.topK(0).ids());
            assertEquals(Math.log(8), cache.topK(0).restLse()[1], 1e-6);
        }
    }
}
