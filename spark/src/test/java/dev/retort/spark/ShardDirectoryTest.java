package dev.retort.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.cache.TeacherCacheException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Shards are named by partition; the job deletes only what it writes. */
class ShardDirectoryTest {
    @Test
    void shardsAreNamedByPartitionBesideTheCache(@TempDir Path tmp) {
        assertEquals(tmp.resolve("c.rtkc.shards"), ShardDirectory.besides(tmp.resolve("c.rtkc")));
        assertEquals(tmp.resolve("part-00007.rtkc"), ShardDirectory.shard(tmp, 7, ShardDirectory.CACHE));
        assertEquals(tmp.resolve("part-123456.rtkc"), ShardDirectory.shard(tmp, 123456, ShardDirectory.CACHE));
    }

    @Test
    void anEarlierRunsShardsAreTakenAndRemovedOtherFilesAreNot(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("shards"));
        Files.writeString(dir.resolve("part-00000.rtkc"), "earlier");
        Files.writeString(dir.resolve(".part-00001.rtkc.9f3a.tmp"), "killed attempt");
        ShardDirectory shards = ShardDirectory.prepare(dir, ShardDirectory.CACHE);
        shards.remove();
        assertFalse(Files.exists(dir), "only shards were in it");

        Path kept = Files.createDirectory(tmp.resolve("kept"));
        ShardDirectory mixed = ShardDirectory.prepare(kept, ShardDirectory.CACHE);
        Files.writeString(kept.resolve("part-00000.rtkc"), "a shard");
        Files.writeString(kept.resolve("README"), "written meanwhile by someone");
        mixed.remove();
        assertTrue(Files.exists(kept.resolve("README")));
        assertFalse(Files.exists(kept.resolve("part-00000.rtkc")));

        TeacherCacheException e = assertThrows(TeacherCacheException.class, () -> ShardDirectory.prepare(kept, ShardDirectory.CACHE));
        assertEquals(kept + ": holds README, which is not a shard (part-NNNNN.rtkc); give --shards an empty or new directory",
                e.getMessage());
        Path file = Files.writeString(tmp.resolve("file"), "x");
        assertTrue(assertThrows(TeacherCacheException.class, () -> ShardDirectory.prepare(file, ShardDirectory.CACHE)).getMessage().contains("is a file"));
    }
}
