package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.llama.TokenPruning;
import dev.retort.models.llama.TokenPruningFiles;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token pruning from the command line (issue 14), on stories260K with a layer-dropped student: seqkd trains the
 * scorer and the student with the prompts pruned at --prune-layer, the scorer is saved beside the student, and
 * {@code generate} opens it; the baselines run the same way; other methods are refused in one line.
 */
class PruningCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    @TempDir
    Path tmp;
    private Path data;

    @BeforeEach
    void data() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): skipped");
        String[] contexts = {"Once upon a time there was a little girl named Lily who liked to play in the park with her dog",
                "Tom had a big red ball and he played with it every day in the garden near his house",
                "The sun was hot and the birds were singing in the tall green tree by the river"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            lines.add("{\"prompt\": \"" + contexts[i % 3] + ". Who is it about?\", \"response\": \" It is about " + (i % 3 == 0 ? "Lily" : i % 3 == 1 ? "Tom" : "the birds") + ".\"}");
        }
        data = Files.write(tmp.resolve("qa.jsonl"), lines);
    }

    private String[] distill(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("distill", "--teacher", STORIES.toString(), "--student-layers", "0,2,4",
                "--data", data.toString(), "--out", out.toString(), "--seq-len", "48", "--batch-size", "4", "--max-steps", "4",
                "--lr", "3e-3", "--no-progress", "--held-out", "0.25", "--eval-batches", "1", "--seed", "3", "--method", "seqkd"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @Test
    void seqkdTrainsTheScorerAndGenerateUsesIt() throws Exception {
        Path out = tmp.resolve("learned");
        CliTest.Run r = run(distill(out, "--prune-layer", "1", "--keep-ratio", "0.5", "--prune-samples", "8", "--prune-sigma", "0.2",
                "--alpha", "0.5", "--prune-schedule", "anneal"));
        assertEquals(0, r.exit(), r.err());
        Path student = out.resolve("student");
        assertTrue(TokenPruningFiles.present(student), "the scorer is saved beside the student");
        assertTrue(Files.readString(student.resolve(TokenPruningFiles.CONFIG_FILE)).contains("\"prune_layer\" : 1"));
        // the scorer trained: it is no longer its initialisation (the same seed makes the same fresh scorer)
        try (Arena arena = Arena.ofShared(); SafetensorsFile saved = SafetensorsFile.open(student.resolve(TokenPruningFiles.WEIGHTS_FILE))) {
            TokenPruning fresh = new TokenPruning(new TokenPruning.Settings(1, 0.5, 8, 0.2, TokenPruning.Mode.LEARNED, 3), 64, arena);
            assertFalse(Arrays.equals(fresh.scorer().weight().value().toFloatArray(), saved.tensor("scorer.weight").toFloatArray()),
                    "the scorer's weight changed in training");
        }
        CliTest.Run generated = run("generate", "--model", student.toString(), "--prompt",
                "Once upon a time there was a little girl named Lily who liked to play. Who is it about?", "--max-tokens", "8");
        assertEquals(0, generated.exit(), generated.err());
        assertFalse(generated.out().isBlank());
    }

    /**
     * --prune-lr-scale gives the scorer its own optimizer group: over the same 4 steps (same data, noise and seed) a
     * scale of 10 moves its weight about ten times as far from the initialisation as the student's own rate does
     * (AdamW's steps are about lr in size, whatever the gradient's scale). Bad values are refused in one line.
     */
    @Test
    void theScorersLearningRateIsItsOwn() throws Exception {
        double[] moved = new double[2];
        String[] scales = {"1", "10"};
        for (int i = 0; i < 2; i++) {
            Path out = tmp.resolve("scale-" + scales[i]);
            CliTest.Run r = run(distill(out, "--prune-layer", "1", "--keep-ratio", "0.5", "--prune-samples", "8", "--prune-sigma", "0.2",
                    "--alpha", "0.5", "--prune-lr-scale", scales[i], "--prune-score-norm", "minmax"));
            assertEquals(0, r.exit(), r.err());
            try (Arena arena = Arena.ofShared(); SafetensorsFile saved = SafetensorsFile.open(out.resolve("student").resolve(TokenPruningFiles.WEIGHTS_FILE))) {
                float[] fresh = new TokenPruning(new TokenPruning.Settings(1, 0.5, 8, 0.2, TokenPruning.Mode.LEARNED, 3), 64, arena)
                        .scorer().weight().value().toFloatArray();
                float[] trained = saved.tensor("scorer.weight").toFloatArray();
                for (int j = 0; j < fresh.length; j++) moved[i] += (trained[j] - fresh[j]) * (trained[j] - fresh[j]);
                moved[i] = Math.sqrt(moved[i]);
            }
        }
        assertTrue(moved[0] > 0 && moved[1] > 5 * moved[0], "the scorer moved " + moved[0] + " at scale 1 and " + moved[1] + " at scale 10");
        for (String[] bad : List.of(new String[] {"--prune-lr-scale", "0"}, new String[] {"--prune-score-norm", "zscore"})) {
            CliTest.Run r = run(distill(tmp.resolve("bad"), "--prune-layer", "1", bad[0], bad[1]));
            assertEquals(2, r.exit(), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(bad[0]) && r.err().contains(bad[1]), r.err());
        }
    }

    @Test
    void theBaselinesTrainAtTheSameRatioAndOtherMethodsAreRefused() throws Exception {
        for (String mode : List.of("attention", "random")) {
            CliTest.Run r = run(distill(tmp.resolve(mode), "--prune-layer", "1", "--keep-ratio", "0.5", "--prune-mode", mode));
            assertEquals(0, r.exit(), r.err());
            assertTrue(Files.readString(tmp.resolve(mode).resolve("student").resolve(TokenPruningFiles.CONFIG_FILE)).contains("\"" + mode + "\""));
        }
        CliTest.Run sft = run(distill(tmp.resolve("sft"), "--prune-layer", "1", "--method", "sft"));
        assertEquals(2, sft.exit());
        assertTrue(sft.err().strip().startsWith("--prune-layer") || sft.err().contains("--prune-layer: --method sft"), sft.err());
        assertEquals(1, sft.err().strip().lines().count(), sft.err());
        CliTest.Run tooDeep = run(distill(tmp.resolve("deep"), "--prune-layer", "3"));
        assertEquals(2, tooDeep.exit());
        assertTrue(tooDeep.err().contains("--prune-layer 3"), tooDeep.err());
    }

    /**
     * Ctrl-C and --resume with learned pruning (its own learning rate, normalised scores): the scorer is checkpointed
     * with the student and the noise is a function of (seed, step, rows), so every step's numbers are bitwise those
     * of the uninterrupted run.
     */
    @Test
    void ctrlCAndResumeAreBitwiseTheUninterruptedRun() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/kill")) || Files.isExecutable(Path.of("/usr/bin/kill")), "no kill(1): skipped");
        String[] flags = {"--prune-layer", "1", "--keep-ratio", "0.5", "--prune-samples", "8", "--alpha", "0.5",
                "--prune-schedule", "anneal", "--prune-lr-scale", "10", "--prune-score-norm", "minmax", "--max-steps", "40", "--eval-every", "10"};
        Path straight = tmp.resolve("straight"), out = tmp.resolve("interrupted");
        CliTest.Run first = run(distill(straight, flags));
        assertEquals(0, first.exit(), first.err());
        String[] withMaxSteps = distill(out, flags);
        Process p = CliTest.start(tmp.resolve("log.txt"), withMaxSteps);
        Path metrics = out.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (losses(metrics) < 3 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(10);
        new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
        assertTrue(p.waitFor(90, java.util.concurrent.TimeUnit.SECONDS), "the run stops");
        String log = Files.readString(tmp.resolve("log.txt"));
        Assumptions.assumeTrue(p.exitValue() == 130, "finished before it could be interrupted: " + log);
        String[] resume = Arrays.copyOf(flags, flags.length + 1);
        resume[flags.length] = "--resume";
        CliTest.Run resumed = run(distill(out, resume));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(pinned(straight), pinned(out), "every step's numbers, interrupted and resumed vs straight");
        assertEquals(Files.readString(straight.resolve("student").resolve(TokenPruningFiles.CONFIG_FILE)),
                Files.readString(out.resolve("student").resolve(TokenPruningFiles.CONFIG_FILE)));
        assertTrue(Arrays.equals(Files.readAllBytes(straight.resolve("student").resolve(TokenPruningFiles.WEIGHTS_FILE)),
                Files.readAllBytes(out.resolve("student").resolve(TokenPruningFiles.WEIGHTS_FILE))), "the same scorer");
    }

    private static List<java.util.Map<String, Object>> pinned(Path out) {
        return new dev.retort.distill.train.MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> !r.containsKey("wall_s")).map(r -> {
            java.util.Map<String, Object> copy = new java.util.LinkedHashMap<>(r);
            copy.remove("tokens_per_s");
            return (java.util.Map<String, Object>) copy;
        }).toList();
    }

    private static int losses(Path metrics) {
        try {
            return Files.exists(metrics) ? (int) Files.readAllLines(metrics).stream().filter(l -> l.contains("\"loss\"")).count() : 0;
        } catch (java.io.IOException e) {
            return 0;
        }
    }
}
