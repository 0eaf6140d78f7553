package dev.retort.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.cli.Retort;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code retort spark cache-teacher} end to end, against {@code retort cache-teacher} run the same way. */
class RetortSparkCliTest {
    @TempDir
    static Path shared;
    static Path data;

    record Run(int exit, String out, String err) {
        String lastLine() {
            List<String> lines = out.strip().lines().toList();
            return lines.isEmpty() ? "" : lines.getLast();
        }
    }

    @BeforeAll
    static void data() throws Exception {
        SparkTestData.requireTeacher();
        data = SparkTestData.writeStories(shared.resolve("stories.txt"));
    }

    static Run run(CommandLine cli, String... args) {
        PrintStream originalOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            cli.setErr(new PrintWriter(err, true));
            int exit = cli.execute(args);
            return new Run(exit, captured.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(originalOut);
        }
    }

    static String[] cacheTeacher(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("cache-teacher", "--teacher", SparkTestData.STORIES.toString(), "--data",
                data.toString(), "--top-k", "8", "--temperature", "2.0", "--seq-len", "32", "--batch-size", "4", "--out", out.toString()));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @Test
    void localModeWritesTheSingleMachineCommandsFileWithItsLastLine(@TempDir Path tmp) throws Exception {
        Path single = tmp.resolve("single.rtkc"), spark = tmp.resolve("spark.rtkc");
        Run a = run(Retort.commandLine(), cacheTeacher(single));
        Run b = run(RetortSpark.commandLine(), cacheTeacher(spark, "--master", "local[2]", "--conf", "spark.ui.enabled=false"));
        assertEquals(0, a.exit(), a.err());
        assertEquals(0, b.exit(), b.err());
        assertEquals(-1, Files.mismatch(single, spark), "the Spark command's cache differs from retort cache-teacher's");
        String expected = a.lastLine().replaceFirst(" in [0-9.]+ s: .*", "");
        assertTrue(b.lastLine().startsWith(expected + " in ") && b.lastLine().endsWith(" s: " + spark),
                "last line, like retort cache-teacher's '" + a.lastLine() + "': " + b.lastLine());
        assertFalse(Files.exists(tmp.resolve("spark.rtkc.shards")), "the shards are removed once merged");
    }

    /** generate-data and eval through both command lines: the same JSONL byte for byte, the same last lines. */
    @Test
    void generateDataAndEvalOnSparkMatchTheSingleMachineCommands(@TempDir Path tmp) throws Exception {
        Path prompts = SparkTestData.writePrompts(tmp.resolve("prompts.txt"));
        Path single = tmp.resolve("single.jsonl"), spark = tmp.resolve("spark.jsonl");
        List<String> generate = List.of("generate-data", "--teacher", SparkTestData.STORIES.toString(), "--prompts", prompts.toString(),
                "--samples-per-prompt", "2", "--max-tokens", "16", "--batch", "3", "--drop-duplicates");
        Run a = run(Retort.commandLine(), with(generate, "--out", single.toString()));
        Run b = run(RetortSpark.commandLine(), with(generate, "--out", spark.toString(), "--master", "local[2]", "--conf", "spark.ui.enabled=false"));
        assertEquals(0, a.exit(), a.err());
        assertEquals(0, b.exit(), b.err());
        assertEquals(-1, Files.mismatch(single, spark), "the Spark command's JSONL differs from retort generate-data's");
        assertEquals(a.lastLine().replace(single.toString(), "OUT").replaceFirst(" generated in .*", ""),
                b.lastLine().replace(spark.toString(), "OUT").replaceFirst(" generated in .*", ""));
        Run again = run(RetortSpark.commandLine(), with(generate, "--out", spark.toString(), "--master", "local[2]"));
        assertEquals(2, again.exit(), again.err());
        assertTrue(again.err().contains(spark + " already exists and is not part of an unfinished generate-data run"), again.err());

        List<String> eval = List.of("eval", "--model", SparkTestData.STORIES.toString(), "--data", data.toString(), "--seq-len", "32");
        Run c = run(Retort.commandLine(), eval.toArray(String[]::new));
        Run d = run(RetortSpark.commandLine(), with(eval, "--master", "local[2]", "--partitions", "3", "--conf", "spark.ui.enabled=false"));
        assertEquals(0, c.exit(), c.err());
        assertEquals(0, d.exit(), d.err());
        assertTrue(c.lastLine().startsWith("tokens="), c.lastLine());
        assertEquals(c.lastLine(), d.lastLine());
    }

    static String[] with(List<String> args, String... extra) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(extra));
        return all.toArray(String[]::new);
    }

    @Test
    void aRunWithoutAMasterOrWithNoPartitionsIsRefusedInOneLine(@TempDir Path tmp) {
        Run r = run(RetortSpark.commandLine(), cacheTeacher(tmp.resolve("c.rtkc")));
        assertEquals(2, r.exit(), r.err());
        assertEquals("retort spark cache-teacher: --master is required outside spark-submit, e.g. --master local[2] "
                + "(or spark://HOST:7077, yarn, k8s://URL) (see 'retort spark cache-teacher --help')", r.err().strip());
        Run none = run(RetortSpark.commandLine(), cacheTeacher(tmp.resolve("c.rtkc"), "--master", "local[2]", "--partitions", "0"));
        assertEquals(2, none.exit(), none.err());
        assertEquals("retort spark cache-teacher: --partitions must be at least 1, got 0", none.err().strip());
    }

    @Test
    void anExecutorTooSmallForTheTeacherIsRefusedBeforeSparkStarts(@TempDir Path tmp) {
        Run local = run(RetortSpark.commandLine(), cacheTeacher(tmp.resolve("c.rtkc"), "--master", "local[3]", "--memory-limit", "1m"));
        assertEquals(2, local.exit(), local.err());
        assertEquals(1, local.err().strip().lines().count(), local.err());
        assertTrue(local.err().startsWith("retort spark cache-teacher: this run needs about ")
                && local.err().contains("but --memory-limit, for an executor running 3 tasks at once, is 1 MB; lower --batch-size"),
                local.err());
        Run cluster = run(RetortSpark.commandLine(), cacheTeacher(tmp.resolve("c.rtkc"), "--master", "spark://nowhere:7077",
                "--conf", "spark.executor.memoryOverhead=1", "--conf", "spark.executor.cores=2"));
        assertEquals(2, cluster.exit(), cluster.err());
        assertTrue(cluster.err().contains("but spark.executor.memoryOverhead, for an executor running 2 tasks at once, is 1 MB"),
                cluster.err());
        assertFalse(Files.exists(tmp.resolve("c.rtkc.shards")), "refused before any shard directory is made");
    }

    @Test
    void aShardDirectoryHoldingOtherFilesIsRefusedAndKept(@TempDir Path tmp) throws Exception {
        Path shards = Files.createDirectory(tmp.resolve("shards"));
        Path mine = Files.writeString(shards.resolve("notes.txt"), "mine");
        Run r = run(RetortSpark.commandLine(), cacheTeacher(tmp.resolve("c.rtkc"), "--master", "local[2]", "--shards", shards.toString()));
        assertEquals(2, r.exit(), r.err());
        assertEquals("retort spark cache-teacher: " + shards + ": holds notes.txt, which is not a shard (part-NNNNN.rtkc); "
                + "give --shards an empty or new directory", r.err().strip());
        assertEquals("mine", Files.readString(mine));
    }
}
