package dev.retort.distill.cache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TeacherCacheAtomicWriteTest {
    @TempDir
    Path dir;

    private final CacheDescription description = TeacherCacheRoundTripTest.description(9, 2, 1f, 5);

    private static final class Interrupted extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }

    private List<Path> files() throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.sorted().toList();
        }
    }

    /** Appends sequences over several blocks, then fails the way a crashing teacher would. */
    private void writeAndFailMidway(Path target) {
        assertThrows(Interrupted.class, () -> {
            try (TeacherCacheWriter writer = TeacherCacheWriter.create(target, description,
                    new dev.retort.tensor.ThreadPool(1), 100)) {
                for (int s = 0; s < 10; s++) writer.append(new int[] {1, 2, 3}, new float[27]);
                // Blocks are on disk by now, in the temporary file only.
                Path temp = files().stream().filter(p -> p.getFileName().toString().startsWith(".cache.rtkc."))
                        .findFirst().orElseThrow();
                assertTrue(Files.size(temp) > 300, "temporary file of " + Files.size(temp) + " bytes");
                throw new Interrupted();
            }
        });
    }

    @Test
    void aFailureMidwayLeavesNoFileAtTheTargetAndNoTemporaryFile() throws IOException {
        Path target = dir.resolve("cache.rtkc");
        writeAndFailMidway(target);
        assertEquals(List.of(), files(), "files left in the directory");
    }

    @Test
    void aFailureMidwayLeavesThePreviousCacheIntact() throws IOException {
        Path target = dir.resolve("cache.rtkc");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(target, description)) {
            writer.append(new int[] {7, 8}, new float[18]);
            writer.finish();
        }
        byte[] before = Files.readAllBytes(target);
        writeAndFailMidway(target);
        assertArrayEquals(before, Files.readAllBytes(target), "the previous cache's bytes");
        assertEquals(List.of(target), files());
        try (TeacherCache cache = TeacherCache.open(target)) {
            assertArrayEquals(new int[] {7, 8}, cache.tokens(0));
        }
    }

    @Test
    void theTargetAppearsOnlyAtFinishAndThenReplacesThePreviousCache() throws IOException {
        Path target = dir.resolve("cache.rtkc");
        Files.writeString(target, "an older cache");
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(target, description)) {
            writer.append(new int[] {1}, new float[9]);
            assertEquals("an older cache", Files.readString(target), "the target before finish");
            assertEquals(2, files().size(), "the target and one temporary file while writing");
            writer.finish();
            assertThrows(IllegalStateException.class, () -> writer.append(new int[] {1}, new float[9]));
        }
        assertEquals(List.of(target), files());
        try (TeacherCache cache = TeacherCache.open(target)) {
            assertEquals(1, cache.sequenceCount());
        }
    }

    @Test
    void aTargetInAMissingDirectoryIsAClearError() {
        Path target = dir.resolve("missing").resolve("cache.rtkc");
        TeacherCacheException e = assertThrows(TeacherCacheException.class,
                () -> TeacherCacheWriter.create(target, description));
        assertTrue(e.getMessage().startsWith(target + ": cannot start writing: "), e.getMessage());
    }
}
