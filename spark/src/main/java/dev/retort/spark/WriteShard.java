package dev.retort.spark;

import dev.retort.autograd.BufferPool;
import dev.retort.distill.cache.CacheDescription;
import dev.retort.distill.cache.TeacherCacheJob;
import dev.retort.distill.cache.TeacherCacheWriter;
import dev.retort.models.llama.LlamaModel;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.Function2;

/**
 * The task, run on an executor for one partition: the executor's teacher ({@link ExecutorTeachers}) scores the
 * partition's batches in order, one pass each, into that partition's shard — a teacher cache of its own with the
 * whole cache's description — which becomes visible, under the partition's name, only once it is complete.
 */
final class WriteShard implements Function2<Integer, Iterator<TeacherBatch>, Iterator<ShardWritten>> {
    private final CacheDescription description;
    private final String directory;   // a Path is not Serializable

    WriteShard(CacheDescription description, Path directory) {
        this.description = description;
        this.directory = directory.toString();
    }

    @Override
    public Iterator<ShardWritten> call(Integer partition, Iterator<TeacherBatch> batches) {
        if (!batches.hasNext()) return Collections.emptyIterator();
        LlamaModel teacher = ExecutorTeachers.teacher(description);
        Path shard = ShardDirectory.shard(Path.of(directory), partition, ShardDirectory.CACHE);
        // An exception here (the task killed, a batch failing) closes the writer unfinished: no shard appears.
        try (BufferPool pool = new BufferPool(); TeacherCacheWriter writer = TeacherCacheWriter.create(shard, description)) {
            int firstRow = -1;
            while (batches.hasNext()) {
                TeacherBatch batch = batches.next();
                if (firstRow < 0) firstRow = batch.firstRow();
                int[][] rows = batch.rows();
                TeacherCacheJob.score(teacher, pool, i -> rows[i], rows.length, rows.length, writer, done -> {});
            }
            writer.finish();
            return List.of(new ShardWritten(partition, firstRow, writer.sequenceCount(), writer.tokenCount())).iterator();
        }
    }
}
