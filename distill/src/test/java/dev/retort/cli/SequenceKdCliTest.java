package dev.retort.cli;

import static dev.retort.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.train.MetricsLog;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sequence-level and on-policy KD from the command line, on stories260K with a layer-dropped student: the
 * teacher writes the data ({@code generate-data}, killed and continued without a prompt lost or doubled), the
 * student learns from it ({@code --method seqkd}), and {@code --method gkd} with λ = 0 is that same run while
 * λ = 1 trains on the student's own samples only.
 */
class SequenceKdCliTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    @TempDir
    Path tmp;
    private Path prompts;

    @BeforeEach
    void prompts() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): skipped");
        List<String> lines = new ArrayList<>();
        String[] starts = {"Once upon a time", "Lily went to the park", "The dog was", "Tom had a red ball", "One day, a bird",
                "The sun was", "Sam and Mia", "The cat"};
        for (int i = 0; i < 24; i++) lines.add(starts[i % starts.length] + (i >= starts.length ? " and" + " the".repeat(i / starts.length) : ""));
        prompts = Files.write(tmp.resolve("prompts.txt"), lines);
    }

    private String[] generateData(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("generate-data", "--teacher", STORIES.toString(), "--prompts", prompts.toString(),
                "--out", out.toString(), "--samples-per-prompt", "2", "--max-tokens", "24", "--chunk", "1", "--seed", "5"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @Test
    void generateDataKilledAndStartedAgainWritesEachPromptOnce() throws Exception {
        Path straight = tmp.resolve("straight.jsonl");
        CliTest.Run first = run(generateData(straight, "--batch", "3"));
        assertEquals(0, first.exit(), first.err());
        List<String> lines = Files.readAllLines(straight);
        assertEquals(48, lines.size(), "24 prompts x 2 samples");
        assertTrue(lines.getFirst().startsWith("{\"prompt\":\"Once upon a time\",\"response\":\""), lines.getFirst());
        assertTrue(first.out().strip().matches("generate-data: 48 lines in .* \\(24 prompts x 2 samples; dropped 0 empty, 0 truncated, "
                + "0 duplicate\\); \\d+ tokens generated in [0-9.]+ s, [0-9.]+ tokens/s"), first.out());
        assertTrue(!Files.exists(tmp.resolve("straight.jsonl.progress")), "the progress file goes when the run ends");
        CliTest.Run again = run(generateData(straight));
        assertEquals(2, again.exit(), "a finished output is never overwritten");
        assertTrue(again.err().contains("already exists"), again.err());
        Path planned = tmp.resolve("planned.jsonl");
        CliTest.Run refused = run(generateData(planned, "--memory-limit", "64k"));
        assertEquals(2, refused.exit(), "refused by its memory plan before anything loads");
        assertTrue(refused.err().contains("--memory-limit is") && refused.err().contains("lower --batch or --max-tokens"), refused.err());
        assertTrue(!Files.exists(planned), "nothing written");

        // A real process, killed (SIGKILL) after some chunks; then a torn append, as a kill during a write leaves.
        Path out = tmp.resolve("killed.jsonl"), progress = tmp.resolve("killed.jsonl.progress");
        Process p = CliTest.start(tmp.resolve("log.txt"), generateData(out, "--batch", "2"));
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (promptsDone(progress) < 3 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(5);
        p.destroyForcibly();
        p.waitFor();
        int done = promptsDone(progress);
        Assumptions.assumeTrue(done < 24, "the run finished before it could be killed: " + done);
        Files.writeString(out, "{\"prompt\":\"Once upon", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        CliTest.Run resumed = run(generateData(out, "--batch", "5"));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(Files.readString(straight), Files.readString(out), "killed, torn and continued (other --batch) = straight");
    }

    private static int promptsDone(Path progress) {
        try {
            return Files.exists(progress) ? new com.fasterxml.jackson.databind.ObjectMapper().readTree(progress.toFile()).path("prompts_done").asInt() : 0;
        } catch (Exception e) {
            return 0;   // being replaced
        }
    }

    private String[] distill(Path data, Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("distill", "--teacher", STORIES.toString(), "--student-layers", "0,2,4",
                "--data", data.toString(), "--out", out.toString(), "--seq-len", "48", "--batch-size", "4", "--max-steps", "5",
                "--lr", "1e-3", "--no-progress", "--held-out", "0.2", "--eval-batches", "2", "--seed", "3"));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    @Test
    void seqkdLearnsFromTeacherTextAndGkdAtLambdaZeroIsTheSameRun() throws Exception {
        Path data = tmp.resolve("teacher.jsonl");
        assertEquals(0, run(generateData(data)).exit());
        CliTest.Run seqkd = run(distill(data, tmp.resolve("seqkd"), "--method", "seqkd"));
        assertEquals(0, seqkd.exit(), seqkd.err());
        assertTrue(Files.exists(tmp.resolve("seqkd/student/model.safetensors")), seqkd.out());

        String[] sameLoss = {"--kd-loss", "gjsd", "--beta", "0.3", "--alpha", "1", "--temperature", "1"};
        CliTest.Run tokenLevel = run(distill(data, tmp.resolve("seqkd-kd"), concat(new String[] {"--method", "seqkd"}, sameLoss)));
        CliTest.Run gkd0 = run(distill(data, tmp.resolve("gkd0"), concat(new String[] {"--method", "gkd", "--lambda", "0"}, sameLoss)));
        assertEquals(0, tokenLevel.exit(), tokenLevel.err());
        assertEquals(0, gkd0.exit(), gkd0.err());
        assertEquals(numbers(tmp.resolve("seqkd-kd")), numbers(tmp.resolve("gkd0")), "gkd with λ = 0 is seqkd with the same loss");

        CliTest.Run gkd1 = run(distill(data, tmp.resolve("gkd1"), "--method", "gkd", "--lambda", "1", "--max-new-tokens", "16"));
        assertEquals(0, gkd1.exit(), gkd1.err());
        List<Map<String, Object>> steps = new MetricsLog(tmp.resolve("gkd1/metrics.jsonl")).read().stream().filter(r -> r.containsKey("loss")).toList();
        assertEquals(5, steps.size());
        for (Map<String, Object> s : steps) assertEquals("student", s.get("source"), "λ = 1: every step on the student's own samples");

        CliTest.Run cached = run(distill(data, tmp.resolve("gkd-cache"), "--method", "gkd", "--teacher-cache", data.toString()));
        assertEquals(2, cached.exit());
        assertTrue(cached.err().contains("--teacher-cache cannot score the student's own samples"), cached.err());
    }

    /**
     * Conversations end to end: generate-data renders {"messages"} prompts with the teacher's chat template and
     * writes conversations back, which seqkd trains on (assistant turns only), from a copy of stories260K whose
     * tokenizer_config.json carries a template.
     */
    @Test
    void conversationsGoThroughTheChatTemplateFromPromptsToTraining() throws Exception {
        Path model = Files.createDirectories(tmp.resolve("chat-model"));
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer.model")) {
            if (Files.exists(STORIES.resolve(f))) Files.createSymbolicLink(model.resolve(f), STORIES.resolve(f).toAbsolutePath());
        }
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(STORIES.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                + "{% if add_generation_prompt %}assistant:{% endif %}");
        Files.writeString(model.resolve("tokenizer_config.json"), config.toString());
        Path chats = Files.writeString(tmp.resolve("chats.jsonl"), """
                {"messages": [{"role": "user", "content": "Tell me about Lily."}]}
                {"messages": [{"role": "user", "content": "What did the dog do?"}, {"role": "assistant", "content": "old answer"}]}
                {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Once upon a time"}]}
                """);
        Path data = tmp.resolve("chat-data.jsonl");
        CliTest.Run generated = run("generate-data", "--teacher", model.toString(), "--prompts", chats.toString(), "--out", data.toString(),
                "--samples-per-prompt", "4", "--max-tokens", "20");
        assertEquals(0, generated.exit(), generated.err());
        List<String> lines = Files.readAllLines(data);
        assertEquals(12, lines.size());
        var second = new com.fasterxml.jackson.databind.ObjectMapper().readTree(lines.get(4)).get("messages");
        assertEquals(2, second.size(), "the old assistant turn is replaced by the teacher's: " + lines.get(4));
        assertEquals("assistant", second.get(1).get("role").asText());
        CliTest.Run trained = run("distill", "--method", "seqkd", "--teacher", model.toString(), "--student-layers", "0,2,4",
                "--data", data.toString(), "--out", tmp.resolve("chat-seqkd").toString(), "--seq-len", "64", "--batch-size", "4",
                "--max-steps", "3", "--no-progress", "--held-out", "0.25");
        assertEquals(0, trained.exit(), trained.err());
        CliTest.Run without = run("distill", "--method", "seqkd", "--teacher", STORIES.toString(), "--student-layers", "0,2,4",
                "--data", data.toString(), "--out", tmp.resolve("no-template").toString(), "--seq-len", "64", "--max-steps", "3", "--no-progress");
        assertEquals(2, without.exit());
        assertTrue(without.err().contains("a conversation needs the model's chat template"), without.err());
    }

    /**
     * A LoRA student samples through its adapters (dropout on in training), and an on-policy run stopped with
     * Ctrl-C and resumed is bitwise the uninterrupted one: which micro-batches the student answers and what it
     * samples are functions of the seed, the step and the checkpointed weights.
     */
    @Test
    void gkdWithALoraStudentResumesBitwiseAfterCtrlC() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/kill")) || Files.isExecutable(Path.of("/usr/bin/kill")), "no kill(1): skipped");
        Path data = tmp.resolve("teacher.jsonl");
        assertEquals(0, run(generateData(data)).exit());
        String[] flags = {"--method", "gkd", "--lambda", "0.6", "--lora-rank", "4", "--lora-dropout", "0.1", "--max-new-tokens", "12",
                "--max-steps", "40", "--batch-size", "2"};
        Path straight = tmp.resolve("straight"), out = tmp.resolve("interrupted");
        CliTest.Run uninterrupted = run(distill(data, straight, flags));
        assertEquals(0, uninterrupted.exit(), uninterrupted.err());
        assertTrue(Files.exists(straight.resolve("adapter/adapter_model.safetensors")), "a LoRA gkd run writes its adapter");
        List<Map<String, Object>> rows = new MetricsLog(straight.resolve("metrics.jsonl")).read();
        assertTrue(rows.stream().anyMatch(r -> "student".equals(r.get("source"))) && rows.stream().anyMatch(r -> "data".equals(r.get("source"))),
                "λ = 0.6 mixes both kinds of micro-batch");

        Process p = CliTest.start(tmp.resolve("gkd-log.txt"), distill(data, out, flags));
        Path metrics = out.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (steps(metrics) < 3 && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(10);
        new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start().waitFor();
        assertTrue(p.waitFor(90, java.util.concurrent.TimeUnit.SECONDS), "the run stops");
        assertEquals(130, p.exitValue(), "interrupted before the end: " + Files.readString(tmp.resolve("gkd-log.txt")));
        String[] resume = java.util.Arrays.copyOf(flags, flags.length + 1);
        resume[flags.length] = "--resume";
        CliTest.Run resumed = run(distill(data, out, resume));
        assertEquals(0, resumed.exit(), resumed.err());
        assertEquals(numbers(straight), numbers(out), "every step's numbers, interrupted and resumed vs straight");
    }

    private static int steps(Path metrics) {
        try {
            return Files.exists(metrics) ? (int) Files.readAllLines(metrics).stream().filter(l -> l.contains("\"loss\"")).count() : 0;
        } catch (java.io.IOException e) {
            return 0;
        }
    }

    /** Each step's loss, ce, kd and gradient norm. */
    private static List<List<Object>> numbers(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> r.containsKey("loss"))
                .map(r -> List.of(r.get("loss"), r.get("ce"), r.getOrDefault("kd", 0), r.get("grad_norm"))).toList();
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
