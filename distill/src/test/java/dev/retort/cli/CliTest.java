package dev.retort.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The retort commands as users script them: their output formats, last lines and error messages. */
class CliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    /** Runs a command; returns exit code, standard output and standard error. */
    record Run(int exit, String out, String err) {
        String lastLine() {
            List<String> lines = out.strip().lines().toList();
            return lines.isEmpty() ? "" : lines.get(lines.size() - 1);
        }
    }

    static Run run(String... args) {
        PrintStream originalOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            var cli = Retort.commandLine();
            cli.setErr(new PrintWriter(err, true));
            int exit = cli.execute(args);
            return new Run(exit, captured.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(originalOut);
        }
    }

    /**
     * A real {@code retort} process (this JVM, its classpath and Retort's JVM flags) running {@code args}, its
     * standard output and error going to {@code log}: for kill and Ctrl-C tests.
     */
    static Process start(java.nio.file.Path log, String... args) throws java.io.IOException {
        List<String> command = new java.util.ArrayList<>(List.of(java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "dev.retort.cli.Retort"));
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    static void requireStories() {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): skipped");
    }

    @Test
    void greedyGenerationIsDeterministicEnglishWithoutThePrompt() {
        requireStories();
        Run first = run("generate", "--model", STORIES.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40");
        Run second = run("generate", "--model", STORIES.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40");
        assertEquals(0, first.exit(), first.err());
        assertEquals(first.out(), second.out(), "greedy decoding must repeat exactly");
        assertTrue(!first.out().startsWith("Once upon a time"), "the prompt is not repeated: " + first.out());
        long words = first.out().split("\\s+").length;
        assertTrue(words >= 15, "expected a sentence or two, got: " + first.out());
        assertTrue(first.out().matches("(?s)[A-Za-z ,.!?'\"\\n-]+"), "expected plain English text, got: " + first.out());
    }

    @Test
    void emptyPromptStartsFromBos() {
        requireStories();
        Run r = run("generate", "--model", STORIES.toString(), "--prompt", "", "--temperature", "0", "--max-tokens", "12");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().startsWith("Once upon a time"), "the model's favourite opening from BOS, got: " + r.out());
    }

    @Test
    void seededSamplingRepeatsAndDifferentSeedsDiffer() {
        requireStories();
        String[] args = {"generate", "--model", STORIES.toString(), "--prompt", "Lily", "--temperature", "1.0", "--max-tokens", "30", "--seed", "7"};
        assertEquals(run(args).out(), run(args).out());
        args[args.length - 1] = "8";
        Run other = run(args);
        assertEquals(0, other.exit());
    }

    @Test
    void tokenizePrintsIdsWithBosOnOneLine() {
        requireStories();
        Run r = run("tokenize", "--model", STORIES.toString(), "Once upon a time");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().strip().matches("1( \\d+)+"), "space-separated ids starting with BOS 1: " + r.out());
        assertEquals(1, r.out().strip().lines().count());
    }

    @Test
    void evalEndsWithTokensCeAndPerplexity(@TempDir Path tmp) throws Exception {
        requireStories();
        Path data = tmp.resolve("story.txt");
        Files.writeString(data, "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.");
        Run r = run("eval", "--model", STORIES.toString(), "--data", data.toString());
        assertEquals(0, r.exit(), r.err());
        String last = r.lastLine();
        assertTrue(last.matches("tokens=\\d+ ce=\\d+\\.\\d+ ppl=\\d+\\.\\d+"), "last line format: " + last);
        double ce = Double.parseDouble(last.replaceAll(".*ce=([0-9.]+).*", "$1"));
        assertTrue(ce > 0.1 && ce < 3.0, "a trained model predicts its own genre well: ce=" + ce);
    }

    @Test
    void benchTrainDecodeAndMetaRunOnATinyShape() {
        String[] tiny = {"--dim", "16", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--hidden", "32", "--vocab", "40",
                "--seq", "8", "--batch", "2"};
        for (String mode : List.of("train", "fwd", "lora-kd")) {
            // the peak is measured (a GEMM) once, given the other times
            String[] peak = mode.equals("fwd") ? new String[0] : new String[] {"--peak-gflops", "100"};
            Run r = run(concat(concat(new String[] {"bench", "train", "--mode", mode, "--steps", "1", "--lora-rank", "2"}, peak), tiny));
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.lastLine().matches("\\d+ tokens/s"), mode + ": " + r.out());
            assertTrue(r.out().matches("(?s).*MFLOP/token x \\d+ tokens/s = [0-9.]+ GFLOP/s: MFU [0-9.]+% of [0-9.]+ GFLOP/s.*"), mode + ": " + r.out());
        }
        Run badPeak = run(concat(new String[] {"bench", "train", "--peak-gflops", "-3"}, tiny));
        assertEquals(2, badPeak.exit());
        assertTrue(badPeak.err().contains("--peak-gflops must be a positive number of GFLOP/s, got -3.0"), badPeak.err());
        Run decode = run(concat(new String[] {"bench", "decode", "--tokens", "4"}, tiny));
        assertEquals(0, decode.exit(), decode.err());
        assertTrue(decode.lastLine().matches("[0-9.]+ tokens/s"), decode.out());
        Run copied = run(concat(new String[] {"bench", "decode", "--tokens", "4", "--no-mmap"}, tiny));
        assertEquals(0, copied.exit(), copied.err());
        assertTrue(copied.out().contains("weights F32 copied into memory") && copied.lastLine().matches("[0-9.]+ tokens/s"), copied.out());
        Run meta = run(concat(new String[] {"bench", "meta", "--steps", "1"}, tiny));
        assertEquals(0, meta.exit(), meta.err());
        assertEquals(4, meta.out().strip().lines().count(), "a header and one line per mode: " + meta.out());
        Run wide = run(concat(new String[] {"bench", "meta", "--steps", "1", "--json", "--modes", "meta-full", "--teacher-dim", "32",
                "--teacher-heads", "4", "--teacher-kv-heads", "2", "--teacher-hidden", "48", "--teacher-layers", "2"}, tiny));
        assertEquals(0, wide.exit(), wide.err());
        var m = dev.retort.distill.bench.MetaBench.Measurement.fromJson(wide.out().strip());
        assertEquals(1, m.stepsRun());
        assertEquals(40 * 32 + 2 * (2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 48 + 2 * 32) + 32, m.teacherParams(), "a 2-layer, 32-wide teacher: " + wide.out());
        assertEquals(4L * 4 * m.teacherParams(), m.teacherStateBytes(), "φ, AdamW and gradients over every teacher weight");
        Run badTeacher = run(concat(new String[] {"bench", "meta", "--teacher-dim", "30", "--teacher-heads", "4"}, tiny));
        assertEquals(2, badTeacher.exit());
        assertTrue(badTeacher.err().contains("--teacher-dim 30 is not a multiple of --teacher-heads 4"), badTeacher.err());
        Run badMode = run(concat(new String[] {"bench", "train", "--mode", "sprint"}, tiny));
        assertEquals(2, badMode.exit());
        assertTrue(badMode.err().contains("--mode") && badMode.err().contains("sprint"), badMode.err());
    }

    static String[] concat(String[] a, String[] b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void benchGemmEndsWithGflops() {
        Run r = run("bench", "gemm", "--shape", "32x16x24", "--layout", "ab", "--threads", "1", "--repetitions", "3");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.lastLine().matches("\\d+(\\.\\d+)? GFLOP/s"), "last line: " + r.lastLine());
    }

    @Test
    void badInputGetsOneClearLine(@TempDir Path tmp) {
        Run shape = run("bench", "gemm", "--shape", "12x3");
        assertEquals(2, shape.exit());
        assertTrue(shape.err().contains("--shape must be MxKxN"), shape.err());

        Run missing = run("generate", "--model", tmp.resolve("nope").toString(), "--prompt", "x");
        assertEquals(2, missing.exit());
        assertTrue(missing.err().contains("nope") && missing.err().contains("not a directory"), missing.err());

        Run noWeights = run("eval", "--model", tmp.toString(), "--data", tmp.resolve("x.txt").toString());
        assertEquals(2, noWeights.exit());
        assertTrue(noWeights.err().contains("x.txt"), noWeights.err());
    }
}
