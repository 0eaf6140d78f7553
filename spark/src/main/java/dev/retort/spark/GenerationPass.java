package dev.retort.spark;

import dev.retort.distill.synth.TeacherResponses;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * {@code retort spark generate-data} and {@code retort spark synthesize}: the teacher's generations as a Spark job,
 * in three phases, around the single-machine job's own code.
 * <ol>
 *   <li>{@link #plan} on the driver: the job's prompts, read and rendered by the single-machine job
 *       ({@code GenerateDataJob.prompts}, {@code SynthesizeJob.prompts}), cut into contiguous ranges of inputs, one
 *       per partition.
 *   <li>{@link #writeShards} on the executors: each partition's task generates its inputs' samples, each seeded by
 *       its sequence index in the whole job, and writes them to its shard ({@link WriteGenerations}).
 *   <li>{@link #responses} on the driver: the shards, read in partition order, are the {@link TeacherResponses} the
 *       single-machine job's {@code write} takes in place of a local teacher; it filters, judges and writes its
 *       files exactly as one run of the single-machine command does, so the files are that command's, byte for byte.
 * </ol>
 */
final class GenerationPass {
    private final List<PromptRange> ranges;
    private final int inputs, samples;
    private final WriteGenerations task;
    private final ShardDirectory shards;

    private GenerationPass(List<PromptRange> ranges, int inputs, int samples, WriteGenerations task, ShardDirectory shards) {
        this.ranges = ranges;
        this.inputs = inputs;
        this.samples = samples;
        this.task = task;
        this.shards = shards;
    }

    /**
     * Cuts {@code prompts} (one per input) into ranges for {@code partitions} partitions (never more than inputs).
     */
    static GenerationPass plan(List<String> prompts, int samples, Sampling sampling, int batch, TeacherOnExecutors teacher,
                               int partitions, ShardDirectory shards) {
        CachePass.requirePartitions(partitions);
        int p = Math.min(partitions, prompts.size());
        List<PromptRange> ranges = new ArrayList<>();
        for (int i = 0; i < p; i++) {
            int first = (int) ((long) i * prompts.size() / p), end = (int) ((long) (i + 1) * prompts.size() / p);
            ranges.add(new PromptRange(first, new ArrayList<>(prompts.subList(first, end))));
        }
        return new GenerationPass(ranges, prompts.size(), samples, new WriteGenerations(teacher, samples, sampling, batch, shards.path()), shards);
    }

    /** The partitions the inputs are spread over. */
    int partitions() {
        return ranges.size();
    }

    /** The ranges as an RDD, one per partition, in input order. */
    JavaRDD<PromptRange> ranges(JavaSparkContext sc) {
        return sc.parallelize(ranges, Math.max(1, ranges.size()));
    }

    /** Runs a task per partition of {@code ranges}; returns what they wrote, one report per partition. */
    List<ShardWritten> writeShards(JavaRDD<PromptRange> ranges) {
        if (this.ranges.isEmpty()) return List.of();
        return ranges.mapPartitionsWithIndex(task, false).collect();
    }

    /**
     * The shards as the teacher's responses, after checking that the tasks reported one shard per partition, each
     * starting where the one before ended; each generation is checked again against its sequence and prompt as it is
     * read.
     *
     * @throws IllegalStateException naming the shard directory when a partition is missing, doubled or out of place
     */
    TeacherResponses.Opener responses(List<ShardWritten> written) {
        List<ShardWritten> ordered = written.stream().sorted(Comparator.comparingInt(ShardWritten::partition)).toList();
        long next = 0;   // the sequence the next shard must start at
        for (int p = 0; p < ranges.size(); p++) {
            ShardWritten w = p < ordered.size() ? ordered.get(p) : null;
            if (ordered.size() != ranges.size() || w.partition() != p || (long) w.firstRow() * samples != next) {
                throw new IllegalStateException(shards.path() + ": " + ordered.size() + " shards were reported for "
                        + ranges.size() + " partitions; expected partition " + p + " from input " + next / samples);
            }
            next += w.sequences();
        }
        if (next != (long) inputs * samples) {
            throw new IllegalStateException(shards.path() + ": the shards hold " + next + " generations; expected "
                    + inputs + " inputs x " + samples + " samples");
        }
        return () -> new ShardedResponses(shards.path(), ranges.size());
    }

    /** Deletes the shards, once the driver has written the job's files from them. */
    void removeShards() {
        shards.remove();
    }

    /** The single-machine job's own writing of its files, from generations it is handed. */
    @FunctionalInterface
    interface Merge<S> {
        S write(TeacherResponses.Opener responses) throws IOException;
    }

    /**
     * A whole run, as both commands make it: the shard directory prepared, the pass planned and run on {@code conf}'s
     * Spark, the shards merged by {@code merge} and removed.
     *
     * @param partitions the partitions asked for, or null for twice Spark's default parallelism
     * @param directory  the shard directory
     * @param prompts    one prompt text per input
     * @return what {@code merge} returned
     */
    static <S> S run(SparkConf conf, Integer partitions, Path directory, List<String> prompts, int samples, Sampling sampling,
                     int batch, TeacherOnExecutors teacher, Merge<S> merge) throws IOException {
        ShardDirectory shards = ShardDirectory.prepare(directory, ShardDirectory.GENERATED);
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            GenerationPass pass = plan(prompts, samples, sampling, batch, teacher, partitions != null ? partitions : 2 * sc.defaultParallelism(), shards);
            System.err.printf(Locale.ROOT, "generating %d inputs x %d samples in %d partitions on %s; shards in %s%n", prompts.size(),
                    samples, pass.partitions(), sc.master(), shards.path());
            long start = System.nanoTime();
            List<ShardWritten> written = SparkJobs.collect(() -> pass.writeShards(pass.ranges(sc)));
            System.err.printf(Locale.ROOT, "generated %d partitions in %.1f s; writing the output from their shards%n", written.size(),
                    (System.nanoTime() - start) / 1e9);
            S result = merge.write(pass.responses(written));
            pass.removeShards();
            return result;
        }
    }

    /** The shards' generations, read in partition order as the driver's job asks for them. */
    private static final class ShardedResponses implements TeacherResponses {
        private final Path directory;
        private final int partitions;
        private int partition = -1;
        private Path shard;
        private Iterator<GeneratedShard.Generated> current = List.<GeneratedShard.Generated>of().iterator();
        private long next;   // the sequence current yields next

        ShardedResponses(Path directory, int partitions) {
            this.directory = directory;
            this.partitions = partitions;
        }

        @Override
        public List<Generator.Result> generate(List<String> prompts, long firstSequence) {
            if (firstSequence < next) throw new IllegalStateException("sequence " + firstSequence + " asked again after " + next);
            while (next < firstSequence) advance();   // a merge resumed after an earlier one stopped
            List<Generator.Result> results = new ArrayList<>(prompts.size());
            for (String prompt : prompts) {
                GeneratedShard.Generated g = advance();
                if (!g.prompt().equals(prompt)) {
                    throw new IllegalStateException(shard + ": sequence " + g.sequence() + " continued another prompt than the job's");
                }
                results.add(g.result());
            }
            return results;
        }

        private GeneratedShard.Generated advance() {
            while (!current.hasNext()) {
                if (++partition >= partitions) throw new IllegalStateException(directory + ": the shards end at sequence " + next);
                shard = ShardDirectory.shard(directory, partition, ShardDirectory.GENERATED);
                current = GeneratedShard.read(shard).iterator();
            }
            GeneratedShard.Generated g = current.next();
            if (g.sequence() != next) throw new IllegalStateException(shard + ": holds sequence " + g.sequence() + " where " + next + " belongs");
            next++;
            return g;
        }

        @Override
        public void close() {}
    }
}
