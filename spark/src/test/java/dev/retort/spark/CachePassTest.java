package dev.retort.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.cache.TeacherCache;
import dev.retort.distill.cache.TeacherCacheJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function2;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The teacher pass on a real Spark in local mode, two task threads and two attempts per task ({@code local[2,2]}),
 * checked against {@code retort cache-teacher}'s file (its {@link TeacherCacheJob}) on the same data and settings.
 */
class CachePassTest {
    @TempDir
    static Path shared;
    static Path data;
    static Path reference;
    static JavaSparkContext sc;

    @BeforeAll
    static void start() throws Exception {
        SparkTestData.requireTeacher();
        data = SparkTestData.writeStories(shared.resolve("stories.txt"));
        reference = shared.resolve("single-machine.rtkc");
        TeacherCacheJob.run(options(reference), null);
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2,2]").setAppName("CachePassTest")
                .set("spark.ui.enabled", "false"));
    }

    @AfterAll
    static void stop() {
        if (sc != null) sc.close();
    }

    static TeacherCacheJob.Options options(Path out) {
        return new TeacherCacheJob.Options(SparkTestData.STORIES, data, 32, 8, 2f, 4, out);
    }

    static void assertSameBytes(Path expected, Path actual) throws Exception {
        long at = Files.mismatch(expected, actual);
        assertEquals(-1, at, actual + " differs from " + expected + " from byte " + at + " (sizes " + Files.size(expected)
                + " and " + Files.size(actual) + ")");
    }

    static List<String> files(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void theSparkCacheEqualsTheSingleMachineCacheByteForByte(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("spark.rtkc");
        ShardDirectory shards = ShardDirectory.prepare(ShardDirectory.besides(out), ShardDirectory.CACHE);
        CachePass pass = CachePass.plan(options(out), 4, shards);
        assertEquals(4, pass.partitions());
        List<ShardWritten> written = pass.writeShards(pass.batches(sc));
        assertEquals(List.of("part-00000.rtkc", "part-00001.rtkc", "part-00002.rtkc", "part-00003.rtkc"), files(shards.path()));
        TeacherCacheJob.Result r = pass.merge(written, System.nanoTime());
        assertSameBytes(reference, out);
        assertEquals(pass.sequences(), r.sequences());
        try (TeacherCache cache = TeacherCache.open(reference)) {
            assertEquals(cache.sequenceCount(), pass.sequences(), "sequences");
            assertTrue(cache.sequenceCount() > 80, "a corpus of many passes: " + cache.sequenceCount());
        }
        assertFalse(Files.exists(shards.path()), "the shards are removed once merged");
    }

    /** Partition {@code partition}'s first attempt dies while its shard is half written: after its first pass. */
    record KillFirstAttempt(int partition) implements Function2<Integer, Iterator<TeacherBatch>, Iterator<TeacherBatch>> {
        static final AtomicInteger KILLED = new AtomicInteger();

        @Override
        public Iterator<TeacherBatch> call(Integer p, Iterator<TeacherBatch> batches) {
            if (p != partition || TaskContext.get().attemptNumber() > 0) return batches;
            return new Iterator<>() {
                int served;

                @Override
                public boolean hasNext() {
                    return batches.hasNext();
                }

                @Override
                public TeacherBatch next() {
                    if (served++ == 1) {
                        KILLED.incrementAndGet();
                        throw new IllegalStateException("partition " + partition + ", attempt 0: killed on purpose");
                    }
                    return batches.next();
                }
            };
        }
    }

    @Test
    void aTaskKilledOnceStillYieldsEverySequenceExactlyOnce(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("retried.rtkc");
        ShardDirectory shards = ShardDirectory.prepare(ShardDirectory.besides(out), ShardDirectory.CACHE);
        CachePass pass = CachePass.plan(options(out), 3, shards);
        int before = KillFirstAttempt.KILLED.get();
        List<ShardWritten> written = pass.writeShards(pass.batches(sc).mapPartitionsWithIndex(new KillFirstAttempt(1), true));
        assertEquals(before + 1, KillFirstAttempt.KILLED.get(), "partition 1's first attempt was killed, once");
        assertEquals(List.of("part-00000.rtkc", "part-00001.rtkc", "part-00002.rtkc"), files(shards.path()),
                "one shard per partition, no second copy and no temporary file of the killed attempt");
        pass.merge(written, System.nanoTime());
        assertSameBytes(reference, out);   // the merge checked every shard's rows; the bytes say once, in order
    }

    /** A speculative copy of every task: each partition written twice leaves one shard each, and the same cache. */
    @Test
    void aPartitionWrittenTwiceLeavesOneShard(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("twice.rtkc");
        ShardDirectory shards = ShardDirectory.prepare(tmp.resolve("shards"), ShardDirectory.CACHE);
        CachePass pass = CachePass.plan(options(out), 2, shards);
        pass.writeShards(pass.batches(sc));
        List<ShardWritten> second = pass.writeShards(pass.batches(sc));
        assertEquals(List.of("part-00000.rtkc", "part-00001.rtkc"), files(shards.path()));
        pass.merge(second, System.nanoTime());
        assertSameBytes(reference, out);
    }

    /** The merge checks each shard against the rows it must hold: a shard holding another partition's rows is refused. */
    @Test
    void aShardHoldingTheWrongRowsIsRefusedAndTheCacheLeftAlone(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("kept.rtkc");
        Files.writeString(out, "a file the user had here");
        ShardDirectory shards = ShardDirectory.prepare(tmp.resolve("shards"), ShardDirectory.CACHE);
        CachePass pass = CachePass.plan(options(out), 3, shards);
        List<ShardWritten> written = pass.writeShards(pass.batches(sc));
        Files.copy(ShardDirectory.shard(shards.path(), 0, ShardDirectory.CACHE), ShardDirectory.shard(shards.path(), 2, ShardDirectory.CACHE), StandardCopyOption.REPLACE_EXISTING);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> pass.merge(written, System.nanoTime()));
        assertTrue(e.getMessage().startsWith(ShardDirectory.shard(shards.path(), 2, ShardDirectory.CACHE) + ": "), e.getMessage());
        assertEquals("a file the user had here", Files.readString(out));
        assertEquals(3, files(shards.path()).size(), "the shards stay for a look");
    }
}
