package dev.retort.spark;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * How a job that writes shards splits its input: {@code --partitions} (each one task writing one shard of whole
 * inputs) and {@code --shards} (where the shards go), shared by cache-teacher, generate-data and synthesize.
 */
final class ShardOptions {
    @Option(names = "--partitions", description = "Partitions, each one task writing one shard of whole inputs (default: twice Spark's "
            + "default parallelism; never more than inputs).")
    Integer partitions;

    @Option(names = "--shards", description = "Directory for the shards, on a file system every executor and the driver reach (default: OUT.shards).")
    Path shards;

    /** The partitions asked for, null for the default; checked before Spark starts, as every check of a job. */
    Integer partitions() {
        if (partitions != null) CachePass.requirePartitions(partitions);
        return partitions;
    }

    /** The shard directory: {@code --shards}, or OUT.shards beside the output. */
    Path directoryFor(Path out) {
        return shards != null ? shards : ShardDirectory.besides(out);
    }
}
