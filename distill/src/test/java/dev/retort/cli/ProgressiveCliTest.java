package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.train.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code retort distill --method progressive} end to end on the real tiny Llama (stories260K) as the teacher and
 * a layer-dropped student (layers 0, 2, 4) with either kind of adapter: three phases, each its own steps, rate
 * and trainable set; adaptive prompting; Ctrl-C and --resume across phase boundaries (template bandit included),
 * bitwise.
 */
class ProgressiveCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    @TempDir
    static Path shared;
    static Path data, templates;

    @BeforeAll
    static void data() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        data = DistillCliTest.writeStories(shared.resolve("stories.txt"));
        templates = Files.writeString(shared.resolve("templates.txt"), "{input}\nOnce upon a time, {input}\nTell me a story. {input}\n");
    }

    static String[] distill(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("distill", "--method", "progressive", "--teacher", STORIES.toString(),
                "--student-layers", "0,2,4", "--data", data.toString(), "--out", out.toString(), "--seq-len", "32",
                "--batch-size", "4", "--lr", "1e-3", "--no-progress", "--held-out", "0.1", "--eval-batches", "2", "--seed", "3",
                "--max-new-tokens", "8"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    static List<Map<String, Object>> steps(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> r.containsKey("loss")).toList();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lora", "bottleneck"})
    void threePhasesTrainTheAdaptersOfALayerDroppedStudent(String type, @TempDir Path out) throws Exception {
        CliTest.Run r = run(distill(out, "--adapter-type", type, "--adapter-size", "4", "--phase-steps", "2,3,2",
                "--phase-lr", "2e-3,1e-3,5e-4", "--phase-temperature", "2,2,1"));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("adapter: "), r.out());
        List<Map<String, Object>> rows = steps(out);
        assertEquals(List.of("representations", "representations", "outputs", "outputs", "outputs", "generation", "generation"),
                rows.stream().map(x -> x.get("phase")).toList());
        // each phase starts its own schedule at its own peak (no warm-up: the first step is at the peak)
        assertEquals(2e-3, ((Number) rows.get(0).get("lr")).doubleValue(), 1e-12);
        assertEquals(1e-3, ((Number) rows.get(2).get("lr")).doubleValue(), 1e-12);
        assertEquals(5e-4, ((Number) rows.get(5).get("lr")).doubleValue(), 1e-12);
        assertEquals("teacher", rows.get(5).get("source"), "the generation phase trains on the teacher's samples");
        for (Map<String, Object> row : rows) {
            double loss = ((Number) row.get("loss")).doubleValue();
            assertTrue(Double.isFinite(loss) && loss > 0, row.toString());
        }
        assertTrue(Files.exists(out.resolve(type.equals("lora") ? "adapter/adapter_model.safetensors" : "adapter/adapter_config.json")));
    }

    /** Adaptive prompting: the template weights move with the outputs phase's rewards, are logged and plotted. */
    @Test
    void templateWeightsAreLearnedLoggedAndPlotted(@TempDir Path out) throws Exception {
        CliTest.Run r = run(distill(out, "--phases", "outputs", "--max-steps", "8", "--prompt-templates", templates.toString()));
        assertEquals(0, r.exit(), r.err());
        List<Map<String, Object>> rows = steps(out);
        assertEquals(8, rows.size());
        for (Map<String, Object> row : rows) {
            double sum = 0;
            for (int k = 0; k < 3; k++) sum += ((Number) row.get("template_" + k)).doubleValue();
            assertEquals(1, sum, 1e-9, row.toString());
        }
        assertTrue(!rows.getFirst().get("template_0").equals(rows.getLast().get("template_0")), "the weights moved: " + rows);
        assertTrue(Files.readString(out.resolve("report.html")).contains("Prompt template weights"), "the report plots them");
    }

    /** Progressive unfreezing: the lower phase in two stages (layer 0, then 0-1), the others with layer 2 switched on. */
    @Test
    void progressiveUnfreezingRunsEachNewLayerAsAStage(@TempDir Path out) {
        CliTest.Run r = run(distill(out, "--phase-steps", "4,2,1", "--progressive-unfreeze"));
        assertEquals(0, r.exit(), r.err());
        assertEquals(List.of("representations/1", "representations/1", "representations/2", "representations/2", "outputs", "outputs",
                "generation"), steps(out).stream().map(x -> x.get("phase")).toList());
    }

    /** No progressive schedule: the three losses take turns in one phase, the generation loss every third step. */
    @Test
    void mergedPhasesTakeTurnsInOnePhase(@TempDir Path out) {
        CliTest.Run r = run(distill(out, "--merge-phases", "--max-steps", "6", "--prompt-templates", templates.toString()));
        assertEquals(0, r.exit(), r.err());
        List<Map<String, Object>> rows = steps(out);
        assertEquals(6, rows.size());
        assertEquals(java.util.Arrays.asList(null, null, "teacher", null, null, "teacher"), rows.stream().map(x -> x.get("source")).toList());
        assertTrue(rows.stream().noneMatch(x -> x.containsKey("phase")), "one phase: " + rows);
        assertEquals(1e-3, ((Number) rows.getFirst().get("lr")).doubleValue(), 1e-12, "at --lr");
        assertTrue(rows.getLast().containsKey("template_0"), "the template bandit still runs: " + rows.getLast());
    }

    @Test
    void optionsThatDoNotFitAreRefusedInOneLine(@TempDir Path out) {
        CliTest.Run r = run(distill(out, "--phase-steps", "2,3"));
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--phase-steps has 2 entries for 3 phases"), r.err());
        r = run(distill(out, "--phases", "outputs,decoding"));
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("'decoding'"), r.err());
        r = run(distill(out, "--merge-phases", "--phase-steps", "2,2,2"));
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--merge-phases runs one phase of --max-steps"), r.err());
        r = run(distill(out, "--merge-phases", "--phases", "outputs"));
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--merge-phases needs at least two --phases"), r.err());
        r = run(distill(out, "--phase-patience", "2"));
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--eval-every"), r.err());
    }

    /**
     * Ctrl-C twice: once in the representations phase and once in the outputs phase; each --resume continues
     * across the next phase boundary, and every step's numbers are bitwise those of the run never interrupted.
     */
    @Test
    void ctrlCAndResumeAcrossPhaseBoundariesAreBitwiseTheUninterruptedRun(@TempDir Path work) throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/kill")) || Files.isExecutable(Path.of("/usr/bin/kill")), "no kill(1): skipped");
        String[] flags = {"--adapter-type", "lora", "--lora-rank", "4", "--lora-dropout", "0.1", "--phase-steps", "30,30,3",
                "--prompt-templates", templates.toString()};
        Path straight = work.resolve("straight"), out = work.resolve("interrupted");
        assertEquals(0, run(distill(straight, flags)).exit());

        long first = interrupt(work, out, flags, 2, false);
        assertTrue(first < 30, "the first stop is in the representations phase: " + first);
        long second = interrupt(work, out, flags, 33, true);
        assertTrue(second >= 30 && second < 60, "the second stop is in the outputs phase: " + second);
        CliTest.Run resumed = run(distill(out, with(flags, "--resume")));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(pinned(straight), pinned(out), "every step's numbers, interrupted twice and resumed vs straight");
    }

    /** With --merge-phases the losses take turns by batch: a Ctrl-C mid-run and --resume give the straight run's numbers. */
    @Test
    void ctrlCAndResumeWithMergedPhasesAreBitwiseTheUninterruptedRun(@TempDir Path work) throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/kill")) || Files.isExecutable(Path.of("/usr/bin/kill")), "no kill(1): skipped");
        String[] flags = {"--merge-phases", "--adapter-type", "lora", "--lora-rank", "4", "--max-steps", "40",
                "--prompt-templates", templates.toString()};
        Path straight = work.resolve("straight"), out = work.resolve("interrupted");
        assertEquals(0, run(distill(straight, flags)).exit());
        long stopped = interrupt(work, out, flags, 4, false);
        assertTrue(stopped > 0 && stopped < 40, "stopped mid-run: " + stopped);
        CliTest.Run resumed = run(distill(out, with(flags, "--resume")));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(pinned(straight), pinned(out), "every step's numbers, interrupted and resumed vs straight");
    }

    /** Starts the run (resumed or not), sends SIGINT once it has logged {@code steps} steps; the step it stopped at. */
    private static long interrupt(Path work, Path out, String[] flags, int steps, boolean resume) throws Exception {
        Path log = work.resolve("log-" + steps + ".txt");
        Process p = CliTest.start(log, distill(out, resume ? with(flags, "--resume") : flags));
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (count(out.resolve("metrics.jsonl")) < steps && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), "the run stops");
        String text = Files.readString(log);
        assertEquals(130, p.exitValue(), "interrupted before the end (raise --phase-steps if this machine is fast): " + text);
        var m = java.util.regex.Pattern.compile("interrupted at step (\\d+)").matcher(text);
        assertTrue(m.find(), text);
        return Long.parseLong(m.group(1));
    }

    private static String[] with(String[] flags, String extra) {
        String[] all = java.util.Arrays.copyOf(flags, flags.length + 1);
        all[flags.length] = extra;
        return all;
    }

    private static int count(Path metrics) {
        try {
            return Files.exists(metrics) ? (int) Files.readAllLines(metrics).stream().filter(l -> l.contains("\"loss\"")).count() : 0;
        } catch (java.io.IOException e) {
            return 0;
        }
    }

    /** The numbers of every line of metrics.jsonl, without timings and resources. */
    private static List<Map<String, Object>> pinned(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> !r.containsKey("wall_s")).map(r -> {
            Map<String, Object> copy = new LinkedHashMap<>(r);
            copy.remove("tokens_per_s");
            return (Map<String, Object>) copy;
        }).toList();
    }
}
