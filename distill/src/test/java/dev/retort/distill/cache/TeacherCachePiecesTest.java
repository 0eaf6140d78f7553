package dev.retort.distill.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Llm;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hooks a distributed teacher pass is built from (the spark module): rows scored in pieces that start at
 * multiples of the batch size, each piece its own cache, then copied in order into one writer, make the file
 * {@code retort cache-teacher} makes, byte for byte; a piece made with other settings is refused.
 */
class TeacherCachePiecesTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    @TempDir
    Path dir;

    @Test
    void piecesCopiedInOrderMakeTheSingleRunsFileByteForByte() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        Path data = dir.resolve("stories.txt");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            text.append("Once upon a time, there was a little dog named Max ").append(i).append(". He liked to run in the park.\n\n");
        }
        Files.writeString(data, text);
        TeacherCacheJob.Options whole = new TeacherCacheJob.Options(STORIES, data, 16, 5, 2f, 3, dir.resolve("whole.rtkc"));
        TeacherCacheJob.Result r = TeacherCacheJob.run(whole, null);

        Path merged = dir.resolve("merged.rtkc");
        try (Llm model = Llm.open(STORIES); BufferPool pool = new BufferPool()) {
            PackedData rows = TeacherCacheJob.pack(model, whole);
            CacheDescription description = TeacherCacheJob.describe(model, whole);
            assertEquals(r.sequences(), rows.rows());
            assertTrue(rows.rows() > 7, "enough rows for three pieces: " + rows.rows());
            int[] cuts = {0, 3, 6, rows.rows()};   // multiples of the batch size, 3
            Path[] pieces = new Path[cuts.length - 1];
            for (int p = 0; p < pieces.length; p++) {
                int from = cuts[p];
                pieces[p] = dir.resolve("piece-" + p + ".rtkc");
                try (TeacherCacheWriter writer = TeacherCacheWriter.create(pieces[p], description)) {
                    TeacherCacheJob.score(model.model(), pool, i -> rows.inputs(from + i), cuts[p + 1] - from,
                            whole.batchSize(), writer, done -> {});
                    writer.finish();
                }
            }
            try (TeacherCacheWriter writer = TeacherCacheWriter.create(merged, description)) {
                for (Path piece : pieces) {
                    try (TeacherCache cache = TeacherCache.open(piece)) {
                        writer.appendAll(cache);
                    }
                }
                writer.finish();
            }
            assertEquals(-1, Files.mismatch(whole.out(), merged), "the merged pieces differ from the single run's file");

            CacheDescription otherK = new CacheDescription(description.teacherName(), description.teacherPath(),
                    description.vocabSize(), 4, description.temperature(), description.sequenceLength(),
                    description.tokenizerHash(), description.dataName(), description.dataHash());
            try (TeacherCacheWriter writer = TeacherCacheWriter.create(dir.resolve("other.rtkc"), otherK);
                 TeacherCache cache = TeacherCache.open(pieces[0])) {
                TeacherCacheException e = assertThrows(TeacherCacheException.class, () -> writer.appendAll(cache));
                assertTrue(e.getMessage().startsWith(pieces[0] + ": was made with") && e.getMessage().contains("topK=5"), e.getMessage());
            }
        }
    }
}
