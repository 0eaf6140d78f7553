package dev.retort.spark;

import dev.retort.distill.cache.CacheDescription;
import dev.retort.distill.cache.TeacherCache;
import dev.retort.distill.cache.TeacherCacheJob;
import dev.retort.distill.cache.TeacherCacheWriter;
import dev.retort.distill.data.PackedData;
import dev.retort.models.Llm;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * {@code retort spark cache-teacher}: the teacher top-k cache as a Spark job, in three phases.
 * <ol>
 *   <li>{@link #plan} on the driver: the data packed and the cache described exactly as {@code retort cache-teacher}
 *       does it ({@link TeacherCacheJob#pack}, {@link TeacherCacheJob#describe}), and the rows cut into teacher
 *       passes of {@code --batch-size} from row 0.
 *   <li>{@link #writeShards} on the executors: the passes, in order, spread over the partitions (whole passes, so
 *       every sequence goes through the very pass it would on one machine); each partition's task writes its
 *       shard ({@link WriteShard}) and reports it.
 *   <li>{@link #merge} on the driver: every shard checked against the rows it must hold, then copied in
 *       partition order through the one {@link TeacherCacheWriter} the single-machine command uses, so the file is
 *       that command's, byte for byte; then the shards are removed.
 * </ol>
 */
public final class CachePass {
    private final TeacherCacheJob.Options options;
    private final PackedData rows;
    private final CacheDescription description;
    private final ShardDirectory shards;
    private final List<TeacherBatch> batches;
    private final int partitions;

    private CachePass(TeacherCacheJob.Options options, PackedData rows, CacheDescription description, ShardDirectory shards,
                      List<TeacherBatch> batches, int partitions) {
        this.options = options;
        this.rows = rows;
        this.description = description;
        this.shards = shards;
        this.batches = batches;
        this.partitions = partitions;
    }

    /**
     * Packs and describes on the driver and cuts the passes.
     *
     * @param partitions the partitions asked for; there are never more than passes
     */
    public static CachePass plan(TeacherCacheJob.Options o, int partitions, ShardDirectory shards) throws IOException {
        requirePartitions(partitions);
        PackedData rows;
        CacheDescription description;
        try (Llm model = Llm.open(o.teacher())) {
            rows = TeacherCacheJob.pack(model, o);
            description = TeacherCacheJob.describe(model, o);
        }
        List<TeacherBatch> batches = new ArrayList<>();
        for (int first = 0; first < rows.rows(); first += o.batchSize()) {
            int[][] batch = new int[Math.min(o.batchSize(), rows.rows() - first)][];
            for (int i = 0; i < batch.length; i++) batch[i] = rows.inputs(first + i);
            batches.add(new TeacherBatch(first, batch));
        }
        return new CachePass(o, rows, description, shards, batches, Math.min(partitions, batches.size()));
    }

    /** Refuses fewer than one partition, as {@code --partitions} names it. */
    static void requirePartitions(int partitions) {
        if (partitions < 1) throw new IllegalArgumentException("--partitions must be at least 1, got " + partitions);
    }

    /** The partitions the passes are spread over (0 when the data packs into no rows). */
    public int partitions() {
        return partitions;
    }

    /** The sequences (packed rows) to score. */
    public int sequences() {
        return rows.rows();
    }

    /** The passes as an RDD, whole passes per partition, in row order. */
    public JavaRDD<TeacherBatch> batches(JavaSparkContext sc) {
        return sc.parallelize(batches, Math.max(1, partitions));
    }

    /** Runs a task per partition of {@code batches}; returns what they wrote, one report per partition. */
    public List<ShardWritten> writeShards(JavaRDD<TeacherBatch> batches) {
        if (this.batches.isEmpty()) return List.of();
        return batches.mapPartitionsWithIndex(new WriteShard(description, shards.path()), false).collect();
    }

    /**
     * Checks that the shards hold every row exactly once, in order, and writes the cache from them.
     *
     * @throws IllegalStateException naming the shard when one is missing, doubled or holds other rows than it
     *     should (the cache is then left as it was)
     */
    public TeacherCacheJob.Result merge(List<ShardWritten> written, long startNanos) {
        List<ShardWritten> ordered = written.stream().sorted(Comparator.comparingInt(ShardWritten::partition)).toList();
        if (ordered.size() != partitions) {
            throw new IllegalStateException(shards.path() + ": " + ordered.size() + " shards were reported for "
                    + partitions + " partitions");
        }
        try (TeacherCacheWriter writer = TeacherCacheWriter.create(options.out(), description)) {
            int next = 0;   // the row the next shard must start at
            for (int p = 0; p < partitions; p++) {
                ShardWritten w = ordered.get(p);
                Path file = ShardDirectory.shard(shards.path(), p, ShardDirectory.CACHE);
                if (w.partition() != p || w.firstRow() != next) {
                    throw new IllegalStateException(file + ": partition " + w.partition() + " reported rows from "
                            + w.firstRow() + "; expected partition " + p + " from row " + next);
                }
                try (TeacherCache shard = TeacherCache.open(file)) {
                    if (shard.sequenceCount() != w.sequences()) {
                        throw new IllegalStateException(file + ": holds " + shard.sequenceCount() + " sequences; its task "
                                + "reported " + w.sequences());
                    }
                    for (int s = 0; s < shard.sequenceCount(); s++) {
                        if (!Arrays.equals(shard.tokens(s), rows.inputs(next + s))) {
                            throw new IllegalStateException(file + ": sequence " + s + " is not row " + (next + s)
                                    + " of " + options.data());
                        }
                    }
                    writer.appendAll(shard);
                    next += shard.sequenceCount();
                }
            }
            if (next != rows.rows()) {
                throw new IllegalStateException(shards.path() + ": the shards hold " + next + " sequences; "
                        + options.data() + " packs into " + rows.rows());
            }
            writer.finish();
            shards.remove();
            return new TeacherCacheJob.Result(writer.sequenceCount(), writer.tokenCount(), (System.nanoTime() - startNanos) / 1e9);
        }
    }
}
