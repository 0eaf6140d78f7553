package dev.retort.spark;

import dev.retort.cli.CacheTeacherOptions;
import dev.retort.distill.cache.TeacherCacheJob;
import dev.retort.distill.cache.TeacherCacheWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort spark cache-teacher}: {@code retort cache-teacher}'s flags and last line, the teacher pass run by
 * Spark ({@link CachePass}), and where it runs.
 */
@Command(name = "cache-teacher", mixinStandardHelpOptions = true,
        description = "Store a teacher's top-k logits over a data file, scored by Spark executors; the file is retort cache-teacher's, byte for byte.")
final class SparkCacheTeacherCommand implements Callable<Integer> {
    @Mixin
    CacheTeacherOptions cache;
    @Mixin
    SparkOptions spark;
    @Mixin
    ShardOptions sharding;
    @Option(names = "--memory-limit", description = "Refuse a run whose executors are planned above this much memory, e.g. 8g "
            + "(default: local mode the memory available now, a cluster spark.executor.memoryOverhead).")
    String memoryLimit;

    @Override
    public Integer call() throws Exception {
        TeacherCacheJob.Options o = cache.options();
        Integer partitions = sharding.partitions();   // before Spark starts, as every check here
        TeacherCacheWriter.requireWritable(o.out());   // first: the teacher pass can take hours
        SparkConf conf = spark.sparkConf("retort cache-teacher");
        ExecutorMemory.of(conf, memoryLimit).require(TeacherCacheJob.memoryPlan(o), "lower --batch-size or --seq-len");
        ShardDirectory directory = ShardDirectory.prepare(sharding.directoryFor(o.out()), ShardDirectory.CACHE);
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            CachePass pass = CachePass.plan(o, partitions != null ? partitions : 2 * sc.defaultParallelism(), directory);
            System.err.printf(Locale.ROOT, "scoring %d sequences in %d partitions on %s; shards in %s%n", pass.sequences(),
                    pass.partitions(), sc.master(), directory.path());
            long start = System.nanoTime();
            List<ShardWritten> written = SparkJobs.collect(() -> pass.writeShards(pass.batches(sc)));
            System.err.printf(Locale.ROOT, "scored %d partitions in %.1f s; merging their shards into %s%n", written.size(),
                    (System.nanoTime() - start) / 1e9, o.out());
            TeacherCacheJob.Result r = pass.merge(written, start);
            System.out.println(r.summary(o));
        }
        return 0;
    }
}
