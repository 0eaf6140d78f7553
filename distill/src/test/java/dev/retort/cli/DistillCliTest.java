package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.train.MetricsLog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * retort distill / cache-teacher / export end to end on the real tiny Llama (stories260K) as the teacher and a
 * student made of some of its layers.
 */
class DistillCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    @TempDir
    static Path shared;
    static Path data;

    @BeforeAll
    static void data() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        data = writeStories(shared.resolve("stories.txt"));
    }

    /** Sixty short stories in stories260K's style: the training text of the CLI tests. */
    static Path writeStories(Path file) throws java.io.IOException {
        StringBuilder text = new StringBuilder();
        String[] names = {"Lily", "Tom", "Sue", "Ben", "Max", "Mia"};
        String[] things = {"ball", "cat", "tree", "cake", "dog", "boat"};
        for (int i = 0; i < 60; i++) {
            text.append("Once upon a time, there was a little girl named ").append(names[i % 6]).append(". She loved her ")
                    .append(things[(i * 7) % 6]).append(". One day, she went to the park and saw a big ").append(things[(i * 5) % 6])
                    .append(". She was very happy.\n\n");
        }
        Files.writeString(file, text);
        return file;
    }

    static String[] distill(Path out, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("distill", "--teacher", STORIES.toString(), "--student-layers", "0,2,4",
                "--data", data.toString(), "--out", out.toString(), "--seq-len", "32", "--batch-size", "4", "--max-steps", "6",
                "--lr", "1e-3", "--no-progress", "--held-out", "0.1", "--eval-batches", "2", "--seed", "3"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    static List<Double> losses(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> r.containsKey("loss"))
                .map(r -> ((Number) r.get("loss")).doubleValue()).toList();
    }

    @Test
    void neoTrainsAnAdapterThatExportsAndGenerates(@TempDir Path out) throws Exception {
        CliTest.Run r = run(distill(out, "--method", "neo", "--lora-rank", "4"));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("adapter: "), r.out());
        assertTrue(Files.exists(out.resolve("adapter/adapter_model.safetensors")));
        Map<?, ?> adapterConfig = new ObjectMapper().readValue(out.resolve("adapter/adapter_config.json").toFile(), Map.class);
        assertEquals("LORA", adapterConfig.get("peft_type"));
        assertEquals(4, adapterConfig.get("r"));
        assertTrue(Files.readString(out.resolve("report.html")).contains("<svg"), "the report draws its curves");
        assertEquals(6, losses(out).size());
        // what the run cost: a summary line, the last metrics line, the report
        assertTrue(r.out().contains("resources: wall "), r.out());
        Map<String, Object> cost = new MetricsLog(out.resolve("metrics.jsonl")).read().getLast();
        assertTrue(((Number) cost.get("cpu_s")).doubleValue() > 0 && ((Number) cost.get("energy_j")).doubleValue() > 0, cost.toString());
        assertTrue(cost.get("energy_source").toString().startsWith("rapl") || cost.get("energy_source").toString().startsWith("estimate"), cost.toString());
        String report = Files.readString(out.resolve("report.html"));
        assertTrue(report.contains("Resources: wall"), "the report states the cost");
        assertTrue(report.contains("<circle"), "the single held-out evaluation is drawn as a point, not an empty frame");
        assertTrue(report.contains("Learning rate") && report.contains("Gradient norm") && report.contains(">teacher<"), "lr, grad norm, teacher line");
        assertTrue(report.contains("r=4"), "the settings show the LoRA rank");

        Path merged = out.resolve("merged");
        CliTest.Run export = run("export", "--model", out.resolve("student-base").toString(), "--adapter", out.resolve("adapter").toString(),
                "--out", merged.toString());
        assertEquals(0, export.exit(), export.err());
        CliTest.Run gen = run("generate", "--model", merged.toString(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "10");
        assertEquals(0, gen.exit(), gen.err());
        assertTrue(!gen.out().isBlank(), "the exported student generates text");
    }

    @Test
    void neoTrainsBottleneckAdaptersOnAFrozenStudentThatGenerateAndEvalApply(@TempDir Path out) throws Exception {
        CliTest.Run r = run(distill(out, "--method", "neo", "--adapter-type", "bottleneck", "--adapter-size", "8"));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.lastLine().matches("adapter: \\S+  report: \\S+"), "last line format: " + r.lastLine());
        Path adapter = out.resolve("adapter");
        Map<?, ?> config = new ObjectMapper().readValue(adapter.resolve("adapter_config.json").toFile(), Map.class);
        assertEquals("retort_bottleneck", config.get("adapter_type"));
        assertEquals(8, config.get("bottleneck_size"));
        assertEquals("both", config.get("placement"));
        assertEquals(6, losses(out).size());
        assertTrue(Files.readString(out.resolve("report.html")).contains("bottleneck size=8 placement=both"), "the settings name the adapters");
        try (var weights = dev.retort.models.hf.SafetensorsFile.open(adapter.resolve("adapter_model.safetensors"))) {
            assertEquals(3 * 2 * 4, weights.names().size(), "W_down, b_down, W_up, b_up after both blocks of 3 layers, nothing else");
            float[] up = weights.tensor("model.layers.2.mlp.adapter.up.weight").toFloatArray();
            double moved = 0;
            for (float v : up) moved = Math.max(moved, Math.abs(v));
            assertTrue(moved > 0, "W_up trained away from zero");
        }
        Path base = out.resolve("student-base");
        try (var weights = dev.retort.models.hf.SafetensorsFile.open(base.resolve("model.safetensors"))) {
            assertTrue(weights.names().stream().noneMatch(n -> n.contains("adapter")), "the frozen base is written without adapters");
        }

        String[] greedy = {"--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "10"};
        CliTest.Run gen = run(concat(new String[] {"generate", "--model", base.toString(), "--adapter", adapter.toString()}, greedy));
        assertEquals(0, gen.exit(), gen.err());
        assertTrue(!gen.out().isBlank(), "the adapted student generates text");
        Path text = shared.resolve("eval.txt");
        Files.writeString(text, "Once upon a time, there was a little girl named Lily. She loved her cat.");
        CliTest.Run eval = run("eval", "--model", base.toString(), "--adapter", adapter.toString(), "--data", text.toString());
        assertEquals(0, eval.exit(), eval.err());
        assertTrue(eval.lastLine().matches("tokens=\\d+ ce=\\d+\\.\\d+ ppl=\\d+\\.\\d+"), "last line format: " + eval.lastLine());

        CliTest.Run export = run("export", "--model", base.toString(), "--adapter", adapter.toString(), "--out", out.resolve("merged").toString());
        assertEquals(2, export.exit(), "bottleneck adapters cannot be merged: " + export.err());
        assertEquals(1, export.err().strip().lines().count(), export.err());
        assertTrue(export.err().contains("retort_bottleneck") && export.err().contains("cannot be merged"), export.err());
    }

    @Test
    void adapterFlagsThatDoNotFitAreRefusedInOneLine(@TempDir Path work) {
        String[][] refused = {
                {"--adapter-type", "bottleneck", "--lora-rank", "4"},
                {"--adapter-type", "bottleneck", "--lora-alpha", "8"},
                {"--adapter-type", "prefix"},
                {"--adapter-placement", "mlp"},
                {"--lora-rank", "4", "--adapter-size", "8"},
                {"--method", "kd", "--adapter-type", "bottleneck"},
                {"--adapter-type", "bottleneck", "--adapter-placement", "everywhere"},
        };
        String[] expected = {"--lora-rank shapes LoRA adapters", "--lora-alpha", "--adapter-type must be lora or bottleneck",
                "--adapter-placement goes with --adapter-type bottleneck", "disagree", "--adapter-type bottleneck goes with --method neo",
                "placement 'everywhere'"};
        for (int i = 0; i < refused.length; i++) {
            CliTest.Run r = run(distill(work.resolve("run" + i), refused[i]));
            assertEquals(2, r.exit(), String.join(" ", refused[i]) + ": " + r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
            assertTrue(r.err().contains(expected[i]), "expected '" + expected[i] + "' in: " + r.err());
        }
    }

    private static String[] concat(String[] a, String[] b) {
        String[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void kdTrainsEveryParameterAndLowersTheLoss(@TempDir Path out) {
        CliTest.Run r = run(distill(out, "--method", "kd", "--kd-loss", "jsd", "--max-steps", "10"));
        assertEquals(0, r.exit(), r.err());
        assertTrue(Files.exists(out.resolve("student/model.safetensors")));
        List<Double> losses = losses(out);
        assertTrue(losses.get(losses.size() - 1) < losses.get(0), "loss " + losses);
    }

    /** --out is checked first: with a teacher that does not exist, the error is still --out's, one line, exit 2. */
    @Test
    void cacheTeacherRefusesAnOutItCannotWriteBeforeAnythingElse(@TempDir Path tmp) {
        Path out = tmp.resolve("no-such-dir/teacher.rtkc");
        CliTest.Run r = run("cache-teacher", "--teacher", tmp.resolve("no-teacher").toString(), "--data", data.toString(),
                "--top-k", "8", "--out", out.toString());
        assertEquals(2, r.exit(), r.err());
        assertEquals("retort cache-teacher: " + out + ": its directory " + out.getParent() + " does not exist", r.err().strip());
        CliTest.Run dir = run("cache-teacher", "--teacher", tmp.resolve("no-teacher").toString(), "--data", data.toString(),
                "--top-k", "8", "--out", tmp.toString());
        assertEquals("retort cache-teacher: " + tmp + ": is a directory; expected the cache file's path", dir.err().strip());
    }

    /** eval, generate and cache-teacher plan their memory before loading, and refuse above --memory-limit. */
    @Test
    void inferenceCommandsRefuseAPlanAboveTheMemoryLimit(@TempDir Path tmp) {
        for (String[] args : new String[][] {
                {"eval", "--model", STORIES.toString(), "--data", data.toString(), "--memory-limit", "1m"},
                {"generate", "--model", STORIES.toString(), "--prompt", "Once", "--memory-limit", "1m"},
                {"cache-teacher", "--teacher", STORIES.toString(), "--data", data.toString(), "--top-k", "8",
                        "--out", tmp.resolve("c.rtkc").toString(), "--memory-limit", "1m"}}) {
            CliTest.Run r = run(args);
            assertEquals(2, r.exit(), args[0] + ": " + r.err());
            assertTrue(r.err().contains("this run needs about") && r.err().contains("--memory-limit is 1 MB"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
    }

    @Test
    void trainingFromACacheEqualsTheLiveTeacherTruncatedToTheSameTopK(@TempDir Path live, @TempDir Path cached) {
        Path cache = cached.resolve("teacher.rtkc");
        CliTest.Run c = run("cache-teacher", "--teacher", STORIES.toString(), "--data", data.toString(), "--top-k", "8",
                "--temperature", "2.0", "--seq-len", "32", "--out", cache.toString());
        assertEquals(0, c.exit(), c.err());
        assertTrue(c.out().contains("cached"), c.out());
        CliTest.Run a = run(distill(live, "--method", "kd", "--top-k", "8", "--temperature", "2.0"));
        CliTest.Run b = run(distill(cached.resolve("run"), "--method", "kd", "--top-k", "8", "--temperature", "2.0",
                "--teacher-cache", cache.toString()));
        assertEquals(0, a.exit(), a.err());
        assertEquals(0, b.exit(), b.err());
        List<Double> la = losses(live), lb = losses(cached.resolve("run"));
        assertEquals(la, lb, "one top-k selection serves the cache and the live teacher: bitwise the same losses");
        // A cache made from another data file is refused, before training.
        Path otherData = cached.resolve("other.txt");
        try {
            Files.writeString(otherData, Files.readString(data) + "\n\nOne more story about a dog.\n");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        CliTest.Run otherFile = run("distill", "--teacher", STORIES.toString(), "--student-layers", "0,2,4", "--data", otherData.toString(),
                "--out", cached.resolve("run3").toString(), "--seq-len", "32", "--method", "kd", "--top-k", "8", "--temperature", "2.0",
                "--teacher-cache", cache.toString(), "--max-steps", "1", "--no-progress");
        assertEquals(2, otherFile.exit());
        assertTrue(otherFile.err().contains("another data file"), otherFile.err());
        // A cache made for another temperature is refused.
        CliTest.Run wrongT = run(distill(cached.resolve("run2"), "--method", "kd", "--top-k", "8", "--temperature", "1.0",
                "--teacher-cache", cache.toString()));
        assertEquals(2, wrongT.exit());
        assertTrue(wrongT.err().contains("temperature"), wrongT.err());
    }

    @Test
    void optionsComeFromAConfigFileAndFlagsWin(@TempDir Path out) throws Exception {
        Path config = out.resolve("run.json");
        Files.writeString(config, "{\"method\": \"sft\", \"max-steps\": 3, \"lora-rank\": 2, \"seq-len\": 32}");
        CliTest.Run r = run("distill", "--config", config.toString(), "--teacher", STORIES.toString(), "--student-layers", "1",
                "--data", data.toString(), "--out", out.resolve("run").toString(), "--max-steps", "2", "--no-progress", "--batch-size", "2");
        assertEquals(0, r.exit(), r.err());
        assertEquals(2, losses(out.resolve("run")).size(), "--max-steps on the command line beats the file's 3");
        assertTrue(Files.exists(out.resolve("run/adapter")), "sft with a LoRA rank from the file trains an adapter");

        // YAML, snake_case keys and the names PEFT and TRL users write (lora_r, target_modules, learning_rate)
        Path yaml = out.resolve("run.yaml");
        Files.writeString(yaml, "method: sft\nmax_steps: 3\nlora_r: 2\ntarget_modules: [q_proj, v_proj]\nlearning_rate: 1.0e-3\nseq_len: 32\n");
        CliTest.Run y = run("distill", "--config", yaml.toString(), "--teacher", STORIES.toString(), "--student-layers", "1",
                "--data", data.toString(), "--out", out.resolve("run-yaml").toString(), "--no-progress", "--batch-size", "2");
        assertEquals(0, y.exit(), y.err());
        assertEquals(3, losses(out.resolve("run-yaml")).size(), "max_steps from the YAML file");
        Map<?, ?> adapter = new ObjectMapper().readValue(out.resolve("run-yaml/adapter/adapter_config.json").toFile(), Map.class);
        assertEquals(2, adapter.get("r"), "lora_r from the YAML file");
        assertEquals(List.of("q_proj", "v_proj"), adapter.get("target_modules"), "target_modules from the YAML file");

        Files.writeString(config, "{\"lora-rnak\": 2}");
        CliTest.Run typo = run("distill", "--config", config.toString(), "--teacher", STORIES.toString(), "--student-layers", "1",
                "--data", data.toString(), "--out", out.resolve("run3").toString());
        assertEquals(2, typo.exit());
        assertTrue(typo.err().contains("lora-rnak"), typo.err());
    }

    @Test
    void aStudentWithAnotherVocabularyIsRefused(@TempDir Path out) throws Exception {
        Path other = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/llama2-tokenizer");
        Path student = out.resolve("student");
        Files.createDirectories(student);
        for (String f : List.of("config.json", "model.safetensors")) Files.copy(STORIES.resolve(f), student.resolve(f));
        for (String f : List.of("tokenizer.json", "tokenizer_config.json")) Files.copy(other.resolve(f), student.resolve(f));
        CliTest.Run r = run("distill", "--teacher", STORIES.toString(), "--student", student.toString(), "--data", data.toString(),
                "--out", out.resolve("run").toString(), "--max-steps", "1", "--no-progress");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("tokenizer") && r.err().contains(student.toString()) && r.err().contains("32000"), r.err());
    }

    @Test
    void aUsersFilesInOutAreNeverDeleted(@TempDir Path work) throws Exception {
        // a directory with someone else's file in it is refused before anything runs
        Path mine = work.resolve("mine");
        Files.createDirectories(mine);
        Files.writeString(mine.resolve("notes.txt"), "keep me");
        CliTest.Run refused = run(distill(mine, "--method", "sft", "--max-steps", "1"));
        assertEquals(2, refused.exit());
        assertTrue(refused.err().contains("--out " + mine) && refused.err().contains("notes.txt"), refused.err());
        assertEquals("keep me", Files.readString(mine.resolve("notes.txt")));

        // a previous run needs --resume or --overwrite; with --overwrite, a user's file inside it stops the run
        Path out = work.resolve("run");
        assertEquals(0, run(distill(out, "--method", "sft", "--max-steps", "1")).exit());
        CliTest.Run again = run(distill(out, "--method", "sft", "--max-steps", "1"));
        assertEquals(2, again.exit());
        assertTrue(again.err().contains("--resume") && again.err().contains("--overwrite"), again.err());
        Files.writeString(out.resolve("student/notes.txt"), "mine too");
        CliTest.Run overwrite = run(distill(out, "--method", "sft", "--max-steps", "1", "--overwrite"));
        assertEquals(2, overwrite.exit());
        assertTrue(overwrite.err().contains("notes.txt") && overwrite.err().contains("will not delete"), overwrite.err());
        assertEquals("mine too", Files.readString(out.resolve("student/notes.txt")));
        Files.delete(out.resolve("student/notes.txt"));
        assertEquals(0, run(distill(out, "--method", "sft", "--max-steps", "1", "--overwrite")).exit());

        // the teacher's own directory is never an output
        CliTest.Run intoTeacher = run(distill(STORIES, "--method", "sft", "--max-steps", "1"));
        assertEquals(2, intoTeacher.exit());
        assertTrue(intoTeacher.err().contains("model directory"), intoTeacher.err());
    }

    @Test
    void usageErrorsExitTwoAndRunFailuresExitOneInOneLine(@TempDir Path work) {
        CliTest.Run typo = run(distill(work.resolve("a"), "--lora-rnak", "4"));
        assertEquals(2, typo.exit());
        assertEquals(1, typo.err().strip().lines().count(), "one line, no usage dump: " + typo.err());
        assertTrue(typo.err().contains("--lora-rnak") && typo.err().contains("--help"), typo.err());

        CliTest.Run badValue = run(distill(work.resolve("b"), "--kd-loss", "kl2"));
        assertEquals(2, badValue.exit());
        assertTrue(badValue.err().contains("kl2"), badValue.err());

        // a run that diverges fails while running: exit 1, its cause named
        CliTest.Run diverged = run(distill(work.resolve("c"), "--method", "sft", "--lr", "1e39", "--checkpoint-every", "1"));
        assertEquals(1, diverged.exit(), diverged.err());
        assertTrue(diverged.err().contains("non-finite") || diverged.err().contains("NaN") || diverged.err().contains("Infinity"), diverged.err());
        assertEquals(1, diverged.err().strip().lines().count(), diverged.err());
    }

    @Test
    void strictDataAndTrainingValues(@TempDir Path work) throws Exception {
        Path jsonl = work.resolve("data.jsonl");
        Files.writeString(jsonl, "{\"text\": \"Once upon a time there was a cat.\"}\n{\"text\": {\"a\": \"b\"}}\n");
        CliTest.Run notText = run("distill", "--teacher", STORIES.toString(), "--student-layers", "1", "--data", jsonl.toString(),
                "--out", work.resolve("a").toString(), "--max-steps", "1", "--no-progress");
        assertEquals(2, notText.exit());
        assertTrue(notText.err().contains("data.jsonl:2") && notText.err().contains("\"text\" must be a string"), notText.err());
        Files.writeString(jsonl, "{\"text\": \"Once upon a time.\"} trailing\n");
        CliTest.Run trailing = run("distill", "--teacher", STORIES.toString(), "--student-layers", "1", "--data", jsonl.toString(),
                "--out", work.resolve("b").toString(), "--max-steps", "1", "--no-progress");
        assertEquals(2, trailing.exit());
        assertTrue(trailing.err().contains("data.jsonl:1"), trailing.err());
        for (String[] bad : new String[][] {{"--clip", "-1"}, {"--warmup-steps", "-5"}, {"--min-lr", "1"}, {"--weight-decay", "-0.1"},
                {"--eval-batches", "0"}, {"--clip", "NaN"}}) {
            CliTest.Run r = run(distill(work.resolve("c"), bad));
            assertEquals(2, r.exit(), String.join(" ", bad));
            assertTrue(r.err().contains(bad[0]), bad[0] + ": " + r.err());
        }
    }

    @Test
    void aRunThatCannotFitIsRefusedBeforeItStarts(@TempDir Path work) {
        CliTest.Run r = run(distill(work.resolve("run"), "--memory-limit", "1m"));
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("needs about") && r.err().contains("--memory-limit") && r.err().contains("--batch-size"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(!Files.exists(work.resolve("run/metrics.jsonl")), "nothing ran");
    }

    @Test
    void resumeMayExtendTheRunAndChangeItsScheduleButNotItsPast(@TempDir Path work) {
        Path out = work.resolve("run");
        assertEquals(0, run(distill(out, "--method", "sft", "--max-steps", "3")).exit());
        CliTest.Run longer = run(distill(out, "--method", "sft", "--max-steps", "5", "--lr", "5e-4", "--resume"));
        assertEquals(0, longer.exit(), longer.err());
        assertEquals(5, losses(out).size());
        List<Double> lrs = new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> r.containsKey("lr"))
                .map(r -> ((Number) r.get("lr")).doubleValue()).toList();
        // step 4 (index 3 of 5) follows the new schedule: cosine from 5e-4 over 5 steps
        assertEquals(0.5 * 5e-4 * (1 + Math.cos(Math.PI * 3 / 5)), lrs.get(3), 1e-12, "lr of the first resumed step: " + lrs);
        CliTest.Run otherBatch = run(distill(out, "--method", "sft", "--max-steps", "6", "--batch-size", "2", "--resume"));
        assertEquals(2, otherBatch.exit());
        assertTrue(otherBatch.err().contains("other settings"), otherBatch.err());
        CliTest.Run shorter = run(distill(out, "--method", "sft", "--max-steps", "2", "--lr", "5e-4", "--resume"));
        assertEquals(2, shorter.exit());
        assertTrue(shorter.err().contains("--max-steps of at least 5"), shorter.err());
    }

    /**
     * Kill and resume, every method: a real process gets SIGINT (Ctrl-C) a few steps in, writes its checkpoint and
     * exits 130; --resume in a fresh process finishes the run, and every step's numbers are bitwise those of the
     * run that was never interrupted — LoRA dropout, bottleneck adapters, the meta-distilled teacher and all.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"sft", "kd", "neo", "meta", "neo-bottleneck"})
    void ctrlCAndResumeAreBitwiseTheUninterruptedRunInEveryMethod(String method, @TempDir Path work) throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/kill")) || Files.isExecutable(Path.of("/usr/bin/kill")), "no kill(1): skipped");
        String[] flags = switch (method) {
            case "neo" -> new String[] {"--method", "neo", "--lora-rank", "4", "--lora-dropout", "0.1", "--max-steps", "40"};
            case "neo-bottleneck" -> new String[] {"--method", "neo", "--adapter-type", "bottleneck", "--adapter-size", "4", "--max-steps", "40"};
            default -> new String[] {"--method", method, "--max-steps", "40"};
        };
        Path straight = work.resolve("straight"), out = work.resolve("interrupted");
        assertEquals(0, run(distill(straight, flags)).exit());

        Process p = CliTest.start(work.resolve("log.txt"), distill(out, flags));
        Path metrics = out.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (losses0(metrics) < 3 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(10);
        new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
        assertTrue(p.waitFor(90, java.util.concurrent.TimeUnit.SECONDS), "the run stops");
        String log = Files.readString(work.resolve("log.txt"));
        assertEquals(130, p.exitValue(), "interrupted before the end (raise --max-steps if this machine is fast): " + log);
        assertTrue(log.contains("interrupted at step") && Files.exists(out.resolve("checkpoint.safetensors")), log);

        String[] resume = java.util.Arrays.copyOf(flags, flags.length + 1);
        resume[flags.length] = "--resume";
        CliTest.Run resumed = run(distill(out, resume));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(pinned(straight), pinned(out), method + ": every step's numbers, interrupted and resumed vs straight");
    }

    /** The numbers of every line of metrics.jsonl, without timings and resources. */
    private static List<Map<String, Object>> pinned(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> !r.containsKey("wall_s")).map(r -> {
            Map<String, Object> copy = new java.util.LinkedHashMap<>(r);
            copy.remove("tokens_per_s");
            return (Map<String, Object>) copy;
        }).toList();
    }

    private static int losses0(Path metrics) {
        try {
            return Files.exists(metrics) ? (int) Files.readAllLines(metrics).stream().filter(l -> l.contains("\"loss\"")).count() : 0;
        } catch (java.io.IOException e) {
            return 0;
        }
    }

    @Test
    void dataThatIsNotUtf8IsOneClearLine(@TempDir Path work) throws Exception {
        Path latin1 = work.resolve("latin1.txt");
        Files.write(latin1, "Caf\u00e9 au lait.".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        CliTest.Run r = run("distill", "--teacher", STORIES.toString(), "--student-layers", "1", "--data", latin1.toString(),
                "--out", work.resolve("run").toString(), "--max-steps", "1", "--no-progress");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("latin1.txt") && r.err().contains("not UTF-8"), r.err());
    }
}
