/**
 * Retort's teacher passes as Apache Spark jobs: the expensive, embarrassingly parallel part of distillation, run
 * by a cluster's executors (or {@code local[N]} threads) instead of one process. A module of its own, so that
 * the {@code retort} command line and the student runtime never carry Spark's jars; it depends on distill and
 * nothing depends on it.
 *
 * <ul>
 *   <li>{@link dev.retort.spark.RetortSpark}: the {@code retort spark} command line, and spark-submit's main class.
 *   <li>{@link dev.retort.spark.CachePass}: {@code retort spark cache-teacher} in three phases: plan on the driver,
 *       write one shard per partition on the executors, merge on the driver.
 *   <li>{@link dev.retort.spark.GenerationPass}: {@code retort spark generate-data} and {@code synthesize} in the same
 *       three phases; the merge is the single-machine job's own writing, fed the shards' generations.
 *   <li>{@link dev.retort.spark.EvalPass}: {@code retort spark eval}: windows scored on the executors, summed on the
 *       driver in window order.
 *   <li>{@link dev.retort.spark.WriteShard}: one partition's task; {@link dev.retort.spark.ExecutorTeachers}: the
 *       teacher, opened (memory-mapped) once per executor JVM.
 *   <li>{@link dev.retort.spark.ShardDirectory}: shards named by partition, never by attempt.
 *   <li>{@link dev.retort.spark.ExecutorMemory}: the memory plan of one executor, checked before any task starts.
 * </ul>
 *
 * <h2>One cache from many shards: a merge on the driver</h2>
 * The cache a Spark job writes must equal {@code retort cache-teacher}'s byte for byte. A multi-shard format with
 * one index would be a second file format for every reader to learn, and its bytes could not equal a single
 * file's. Instead each task writes its partition's sequences as an ordinary teacher cache (a shard, with the
 * whole cache's description), and the driver copies the shards, in partition order, through the same
 * {@link dev.retort.distill.cache.TeacherCacheWriter} the single-machine command uses
 * ({@code appendTopK} of the stored top-k, which is what {@code append} stores): same sequences in the same order,
 * same metadata, same blocks, same checksums. The copy is cheap next to the teacher — it reads and writes
 * k·8 + 4 bytes a token, where the teacher computed V logits — and it is where each shard is checked against the
 * packed rows it must hold, so a lost or doubled partition cannot pass unnoticed.
 *
 * <p>Generations follow the same pattern for the same reason: {@code generate-data}'s and {@code synthesize}'s files
 * are written by their single-machine jobs' {@code write}, which takes its generations from a
 * {@link dev.retort.distill.synth.TeacherResponses} — a local teacher, or the shards read in partition order — so
 * the duplicate filters and the triplet judge see every sample in the single-machine order.
 *
 * <h2>Determinism</h2>
 * The data is tokenized and packed once, on the driver, exactly as the single-machine command does it; the rows
 * are cut into teacher passes of {@code --batch-size} from row 0 and partitions hold whole passes, so every
 * sequence goes through the very pass (same batch, same kernels) it would on one machine. Retort's kernels give
 * the same bits for any thread count, so neither the executor's cores nor its concurrent tasks change a number.
 * A generation is seeded by its sequence index in the whole job (sample j of input i is i·samples + j) and its
 * logits do not depend on its batch neighbours, so where a partition boundary falls changes no text. An
 * evaluation's window sums are floats that do not depend on where they are computed, added in double on the driver
 * in window order, so the figure is the single-machine double to the last bit.
 *
 * <h2>Retries and speculation</h2>
 * A shard is named by its partition ({@code part-00003.rtkc}) and written atomically (a hidden temporary file,
 * renamed when complete), so a task killed half-way leaves no shard, a retry writes the partition's shard anew,
 * and a speculative duplicate replaces it with the same bytes. The driver reads shards by partition number only
 * after the job has finished, and checks each against its rows.
 */
package dev.retort.spark;
