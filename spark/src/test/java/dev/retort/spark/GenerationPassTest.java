package dev.retort.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.synth.GenerateDataJob;
import dev.retort.distill.synth.PromptFile;
import dev.retort.distill.synth.SynthesizeJob;
import dev.retort.models.Evaluation;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.SparkConf;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function2;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * generate-data, synthesize and eval on a real Spark in local mode, two task threads and two attempts per task
 * ({@code local[2,2]}), each checked against the single-machine job on the same input and settings.
 */
class GenerationPassTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @TempDir
    static Path shared;
    static Path prompts, stories;
    static JavaSparkContext sc;

    @BeforeAll
    static void start() throws Exception {
        SparkTestData.requireTeacher();
        prompts = SparkTestData.writePrompts(shared.resolve("prompts.txt"));
        stories = SparkTestData.writeStories(shared.resolve("stories.txt"));
        sc = new JavaSparkContext(new SparkConf().setMaster("local[2,2]").setAppName("GenerationPassTest")
                .set("spark.ui.enabled", "false"));
    }

    @AfterAll
    static void stop() {
        if (sc != null) sc.close();
    }

    /** Two samples a prompt at temperature 1, duplicates and empty responses dropped: the filters see every sample in order. */
    static GenerateDataJob.Options generateData(Path out) {
        return new GenerateDataJob.Options(SparkTestData.STORIES, null, prompts, out, 2, new Sampling(20, 1f, 0, 0.95f, 7), 3, 5,
                true, false, true, null);
    }

    static TeacherOnExecutors teacher() throws Exception {
        return TeacherOnExecutors.read(SparkTestData.STORIES, null);
    }

    /** generate-data's file from Spark's shards, the tasks' attempts wrapped by {@code attempts}. */
    static GenerateDataJob.Summary generateOnSpark(Path out, int partitions,
                                                   Function2<Integer, Iterator<PromptRange>, Iterator<PromptRange>> attempts) throws Exception {
        GenerateDataJob.Options o = generateData(out);
        List<PromptFile.Prompt> asked = GenerateDataJob.prompts(o);
        GenerationPass pass = GenerationPass.plan(asked.stream().map(PromptFile.Prompt::text).toList(), o.samples(), o.sampling(),
                o.batch(), teacher(), partitions, ShardDirectory.prepare(ShardDirectory.besides(out), ShardDirectory.GENERATED));
        assertEquals(partitions, pass.partitions());
        List<ShardWritten> written = pass.writeShards(pass.ranges(sc).mapPartitionsWithIndex(attempts, true));
        assertEquals(partitions, CachePassTest.files(ShardDirectory.besides(out)).size(),
                "one shard per partition, no second copy and no temporary file of a killed attempt");
        GenerateDataJob.Summary s = GenerateDataJob.write(o, asked, pass.responses(written), QUIET);
        pass.removeShards();
        return s;
    }

    @Test
    void generateDataOnSparkWritesTheSingleMachineFileByteForByte(@TempDir Path tmp) throws Exception {
        Path single = tmp.resolve("single.jsonl"), spark = tmp.resolve("spark.jsonl");
        GenerateDataJob.Summary expected = GenerateDataJob.run(generateData(single), QUIET);
        GenerateDataJob.Summary actual = generateOnSpark(spark, 3, (p, ranges) -> ranges);
        CachePassTest.assertSameBytes(single, spark);
        assertEquals(expected.line(single, 2).replaceFirst(" in [0-9.]+ s.*", ""), actual.line(single, 2).replaceFirst(" in [0-9.]+ s.*", ""));
        assertEquals(24, expected.written() + expected.droppedEmpty() + expected.droppedDuplicates(), "12 prompts x 2 samples");
        assertTrue(expected.written() > 12, "most responses are kept: " + expected.line(single, 2));
        assertFalse(Files.exists(ShardDirectory.besides(spark)), "the shards are removed once merged");
    }

    /** Partition {@code partition}'s first attempt dies after taking its range: it has generated nothing yet. */
    record KillFirstAttempt(int partition) implements Function2<Integer, Iterator<PromptRange>, Iterator<PromptRange>> {
        static final AtomicInteger KILLED = new AtomicInteger();

        @Override
        public Iterator<PromptRange> call(Integer p, Iterator<PromptRange> ranges) {
            if (p != partition || TaskContext.get().attemptNumber() > 0) return ranges;
            KILLED.incrementAndGet();
            throw new IllegalStateException("partition " + partition + ", attempt 0: killed on purpose");
        }
    }

    @Test
    void aGenerationTaskKilledOnceStillYieldsEveryResponseExactlyOnce(@TempDir Path tmp) throws Exception {
        Path single = tmp.resolve("single.jsonl"), spark = tmp.resolve("retried.jsonl");
        GenerateDataJob.run(generateData(single), QUIET);
        int before = KillFirstAttempt.KILLED.get();
        generateOnSpark(spark, 4, new KillFirstAttempt(2));
        assertEquals(before + 1, KillFirstAttempt.KILLED.get(), "partition 2's first attempt was killed, once");
        CachePassTest.assertSameBytes(single, spark);
    }

    @Test
    void synthesizeOnSparkWritesTheSingleMachineFilesByteForByte(@TempDir Path tmp) throws Exception {
        Path single = tmp.resolve("single.jsonl"), spark = tmp.resolve("spark.jsonl");
        SynthesizeJob.Options reference = synthesize(single);
        SynthesizeJob.Summary expected = SynthesizeJob.run(reference, QUIET);
        SynthesizeJob.Options o = synthesize(spark);
        SynthesizeJob.Prompts asked = SynthesizeJob.prompts(o);
        GenerationPass pass = GenerationPass.plan(asked.texts(), o.samples(), o.sampling(), o.batch(), teacher(), 3,
                ShardDirectory.prepare(tmp.resolve("shards"), ShardDirectory.GENERATED));
        SynthesizeJob.Summary actual = SynthesizeJob.write(o, asked, pass.responses(pass.writeShards(pass.ranges(sc))), QUIET);
        CachePassTest.assertSameBytes(single, spark);
        CachePassTest.assertSameBytes(SynthesizeJob.rejectedFile(single), SynthesizeJob.rejectedFile(spark));
        assertEquals(expected.rejected(), actual.rejected());
        assertEquals(expected.kept(), actual.kept());
        assertTrue(Files.size(SynthesizeJob.rejectedFile(single)) + Files.size(single) > 0, "the teacher wrote something");
    }

    static SynthesizeJob.Options synthesize(Path out) {
        return new SynthesizeJob.Options(SparkTestData.STORIES, null, stories, out, 40, null, 2, new Sampling(24, 0.8f, 0, 0.95f, 3), 4,
                7, 0.3, SynthesizeJob.TrainOn.QUESTION_ANSWER, null);
    }

    @Test
    void evalOnSparkEqualsTheSingleMachineFigureToTheLastBit() throws Exception {
        Evaluation expected;
        List<int[]> windows;
        try (Llm llm = Llm.open(SparkTestData.STORIES)) {
            int[] tokens = llm.tokenizer().encode(Files.readString(stories));
            expected = llm.evaluate(tokens, 32);
            windows = Evaluation.windows(tokens, 32);
        }
        assertTrue(windows.size() > 50, "many windows: " + windows.size());
        Evaluation actual = EvalPass.evaluate(sc, teacher(), windows, 5);
        assertEquals(expected, actual, "tokens and the double cross-entropy, bit for bit");
    }
}
