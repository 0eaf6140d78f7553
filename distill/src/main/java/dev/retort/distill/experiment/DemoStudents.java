package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.DistillJob;
import dev.retort.distill.MemoryPlan;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.method.Methods;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.train.Evaluator;
import dev.retort.distill.train.MetricsLog;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.TrainingConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The student side of the experiments that distil on the demo task ({@link DemoTask}): their sizes, one student
 * trained with an arm's options for a fixed number of steps and measured on the held-out file (perplexity, top-1
 * agreement and KL to the teacher, median ms per step, trainable state, peak RSS of the run), and the per-arm
 * summary over seeds.
 */
public final class DemoStudents {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The task's size, the teacher layers the student is made of, its training steps and batch, the peak learning
     * rate arms use unless they say otherwise, and how many batches of the held-out file score it.
     */
    public record Size(DemoTask.Size task, String studentLayers, int steps, int batch, double lr, int evalBatches) {
        /** What bench/RESULTS.md records: the demo's task (4-layer teacher, 400 steps) and a 100-step student. */
        public static Size standard() {
            return new Size(new DemoTask.Size(6000, 250, 512, 128, 4, 4, 2, 384, 64, 16, 400, 1), "0,2", 100, 16, 3e-3, 8);
        }

        /** {@code --quick}: a smaller corpus, teacher and student budget. */
        public static Size quick() {
            return new Size(new DemoTask.Size(1500, 120, 384, 64, 4, 4, 2, 192, 48, 8, 150, 1), "0,2", 40, 8, 3e-3, 4);
        }

        /** The student's layer count. */
        public int studentDepth() {
            return studentLayers.split(",").length;
        }
    }

    /**
     * How one arm trains its student: {@code method} (kd, neo or sft), the KD loss, the adapters (LoRA rank, or none),
     * feature KD, and the peak learning rate (the end rate is a tenth of it).
     */
    public record Arm(String name, String method, KdConfig kd, LoraOptions lora, FeatureOptions features, double lr) {
        /** Every student weight trained with {@code kd} and this loss, no features, at the size's learning rate. */
        public static Arm kd(String name, KdConfig kd, Size size) {
            return new Arm(name, "kd", kd, LoraOptions.DEFAULTS, FeatureOptions.DEFAULTS, size.lr());
        }

        public Arm withFeatures(FeatureOptions f) {
            return new Arm(name, method, kd, lora, f, lr);
        }
    }

    /**
     * One trained student's scores: held-out perplexity, top-1 agreement and KL(teacher ‖ student); the median
     * milliseconds per training step; the trainable state (F32 weights, gradient and two AdamW moments) from the
     * memory plan; and the process's peak resident set during the run (its high-water mark reset before it).
     */
    public record Scores(double perplexity, double agreement, double kl, double msPerStep, long trainableStateBytes, long peakRssBytes) {}

    /** An arm's scores for one seed. */
    public record Row(String arm, long seed, Scores scores) {}

    private DemoStudents() {}

    /** The options {@code arm}'s student trains with for seed {@code seed}, writing into {@code run}. */
    static DistillOptions options(DemoTask.Files task, Size size, Arm arm, long seed, Path run) {
        return new DistillOptions(arm.method(), new ModelOptions(task.teacher(), null, null, size.studentLayers()),
                DataOptions.DEFAULTS.withFiles(task.transfer(), task.heldOut()).withSeqLen(size.task().seq()),
                TrainingConfig.DEFAULTS.withSteps(size.steps(), size.batch(), arm.lr(), arm.lr() / 10, Math.max(1, size.steps() / 20))
                        .withSeed(seed).withEvaluation(0, size.evalBatches(), 0),
                arm.lora(), arm.kd(), arm.features(), MetaOptions.defaults(), GkdOptions.DEFAULTS, new OutputOptions(run, false, false));
    }

    /**
     * The same options as {@code retort distill} flags, for a run in a JVM of its own. Adapters are described by
     * their rank and alpha only: an arm that changes another LoRA option is refused rather than run differently.
     */
    static List<String> distillArgs(DemoTask.Files task, Size size, Arm arm, long seed, Path run) {
        LoraOptions lora = arm.lora();
        if (!lora.equals(LoraOptions.DEFAULTS.withRank(lora.rank(), lora.alpha()))) {
            throw new IllegalArgumentException("experiment arm " + arm.name() + ": only the LoRA rank and alpha can be given to a child run, got " + lora);
        }
        KdConfig kd = arm.kd();
        List<String> a = new ArrayList<>(List.of("distill", "--method", arm.method(), "--teacher", task.teacher().toString(),
                "--student-layers", size.studentLayers(), "--data", task.transfer().toString(), "--eval-data", task.heldOut().toString(),
                "--seq-len", "" + size.task().seq(), "--max-steps", "" + size.steps(), "--batch-size", "" + size.batch(),
                "--lr", "" + arm.lr(), "--min-lr", "" + arm.lr() / 10, "--warmup-steps", "" + Math.max(1, size.steps() / 20),
                "--seed", "" + seed, "--eval-every", "0", "--eval-batches", "" + size.evalBatches(), "--checkpoint-every", "0",
                "--kd-loss", kd.divergence().cliName(), "--temperature", "" + kd.temperature(), "--alpha", "" + kd.alpha(),
                "--beta", "" + kd.beta(), "--top-k", "" + kd.topK(), "--out", run.toString(), "--no-progress"));
        if (lora.rank() != null) a.addAll(List.of("--lora-rank", "" + lora.rank(), "--lora-alpha", "" + lora.alpha()));
        FeatureOptions f = arm.features();
        if (f.layers() != null) {
            a.addAll(List.of("--feature-layers", f.layers().toString(), "--feature-loss", f.cosine() ? "cosine" : "mse", "--feature-weight", "" + f.weight()));
        }
        return a;
    }

    /** Trains {@code arm}'s student for seed {@code seed} in {@code run} (replaced) and scores it on the held-out file. */
    public static Scores train(DemoTask.Files task, Size size, Arm arm, long seed, Path run, PrintStream log) throws IOException {
        OutputDirectory.fresh(run);
        DistillOptions o = options(task, size, arm, seed, run);
        ResourceUse.resetPeakRss();
        DistillJob.Outcome outcome = DistillJob.run(o);
        long peak = ResourceUse.peakRss();
        Evaluator.Result r = outcome.training().finalEval();
        return logged(new Scores(r.perplexity(), r.agreement(), r.kl(), medianMsPerStep(run.resolve("metrics.jsonl"), (long) size.batch() * size.task().seq()),
                MemoryPlan.of(o, Methods.named(arm.method())).trainable(), peak), arm, seed, log);
    }

    /**
     * As {@link #train}, but as {@code retort distill} in a JVM of its own ({@link ChildJvm}), so that the peak RSS is
     * this arm's alone (teacher, student and JVM), not the high-water mark of every arm before it. The scores are read
     * back from the run's metrics.jsonl, which holds them at full precision.
     */
    public static Scores trainInOwnJvm(DemoTask.Files task, Size size, Arm arm, long seed, Path run, PrintStream log) throws IOException {
        OutputDirectory.fresh(run);
        Path logFile = Files.createDirectories(run.toAbsolutePath().getParent()).resolve(run.getFileName() + ".log");
        ChildJvm.retort(distillArgs(task, size, arm, seed, run), logFile, "experiment arm " + arm.name() + " seed " + seed);
        Map<String, Object> eval = null, resources = null;
        for (Map<String, Object> row : new MetricsLog(run.resolve("metrics.jsonl")).read()) {
            if (row.containsKey("eval_ppl")) eval = row;
            if (row.containsKey("peak_rss_mb")) resources = row;
        }
        if (eval == null || resources == null) {
            throw new IllegalStateException("experiment arm " + arm.name() + ": " + run.resolve("metrics.jsonl") + " has no final evaluation or resources row");
        }
        return logged(new Scores(number(eval, "eval_ppl"), number(eval, "eval_agreement"), number(eval, "eval_kl"),
                medianMsPerStep(run.resolve("metrics.jsonl"), (long) size.batch() * size.task().seq()),
                MemoryPlan.of(options(task, size, arm, seed, run), Methods.named(arm.method())).trainable(),
                Math.round(number(resources, "peak_rss_mb") * 1e6)), arm, seed, log);
    }

    private static double number(Map<String, Object> row, String key) {
        return row.get(key) instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private static Scores logged(Scores s, Arm arm, long seed, PrintStream log) {
        log.printf(Locale.ROOT, "  %-28s seed %d: perplexity %.4f, agreement %.4f, KL %.4f, %.0f ms/step%n", arm.name(), seed,
                s.perplexity(), s.agreement(), s.kl(), s.msPerStep());
        return s;
    }

    /** How {@link #trainAll} runs each student: in this JVM, or each in a JVM of its own (peak RSS per arm). */
    public enum Isolation { SHARED_JVM, OWN_JVM }

    /** Trains every arm for seeds 1..{@code seeds} under {@code out/students}, arm by arm. */
    public static List<Row> trainAll(DemoTask.Files task, Size size, List<Arm> arms, int seeds, Path out, PrintStream log) throws IOException {
        return trainAll(task, size, arms, seeds, out, Isolation.SHARED_JVM, log);
    }

    /** As above, each student trained as {@code isolation} says. */
    public static List<Row> trainAll(DemoTask.Files task, Size size, List<Arm> arms, int seeds, Path out, Isolation isolation, PrintStream log)
            throws IOException {
        if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        List<Row> rows = new ArrayList<>();
        int index = 0;
        for (Arm arm : arms) {
            for (long seed = 1; seed <= seeds; seed++) {
                Path run = out.resolve("students").resolve(index + "-" + seed);
                rows.add(new Row(arm.name(), seed, isolation == Isolation.OWN_JVM
                        ? trainInOwnJvm(task, size, arm, seed, run, log) : train(task, size, arm, seed, run, log)));
            }
            index++;
        }
        return rows;
    }

    /** The median of a run's per-step times (batch tokens over tokens_per_s), robust to a busy neighbour on the machine. */
    static double medianMsPerStep(Path metrics, long tokensPerStep) {
        List<Double> tokPerSec = new ArrayList<>();
        for (Map<String, Object> row : new MetricsLog(metrics).read()) {
            if (row.get("tokens_per_s") instanceof Number n) tokPerSec.add(n.doubleValue());
        }
        if (tokPerSec.isEmpty()) return Double.NaN;
        tokPerSec.sort(null);
        return 1000.0 * tokensPerStep / tokPerSec.get(tokPerSec.size() / 2);
    }

    /** One arm's values of a score over seeds, in seed order. */
    public static double[] values(List<Row> rows, String arm, ToDoubleFunction<Scores> score) {
        return rows.stream().filter(r -> r.arm().equals(arm)).mapToDouble(r -> score.applyAsDouble(r.scores())).toArray();
    }

    /** The arms' names in the order they first appear. */
    public static List<String> arms(List<Row> rows) {
        return rows.stream().map(Row::arm).distinct().toList();
    }

    public static final List<String> QUALITY_HEADER = List.of("arm", "held-out perplexity", "top-1 agreement", "KL(teacher‖student)");

    /** Per arm: mean ± sd over seeds of perplexity, agreement and KL. */
    public static List<List<String>> qualityTable(List<Row> rows) {
        List<List<String>> table = new ArrayList<>();
        for (String arm : arms(rows)) table.add(qualityCells(rows, arm));
        return table;
    }

    /** An arm's name, then mean ± sd of perplexity, agreement and KL. */
    public static List<String> qualityCells(List<Row> rows, String arm) {
        return new ArrayList<>(List.of(arm, Stats.meanSd(values(rows, arm, Scores::perplexity)),
                Stats.meanSd(values(rows, arm, Scores::agreement)), Stats.meanSd(values(rows, arm, Scores::kl))));
    }

    /** A results.jsonl line: the arm, the seed, the scores, and the experiment's own fields ({@code extra}). */
    public static ObjectNode json(Row r, Map<String, Object> extra) {
        ObjectNode n = JSON.createObjectNode().put("arm", r.arm()).put("seed", r.seed());
        extra.forEach((k, v) -> n.putPOJO(k, v));
        Scores s = r.scores();
        return n.put("perplexity", s.perplexity()).put("agreement", s.agreement()).put("kl", s.kl()).put("ms_per_step", s.msPerStep())
                .put("trainable_state_bytes", s.trainableStateBytes()).put("peak_rss_bytes", s.peakRssBytes());
    }

    /** Writes results.jsonl: one line per row, with {@code extra.get(arm)}'s fields (none for an arm not in it). */
    public static Path writeResults(Path out, List<Row> rows, Map<String, Map<String, Object>> extra) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (Row r : rows) lines.append(json(r, extra.getOrDefault(r.arm(), Map.of()))).append('\n');
        Path file = out.resolve("results.jsonl");
        Files.writeString(file, lines, StandardCharsets.UTF_8);
        return file;
    }

    /** A chart's series: for each named group, points (x, mean over seeds of the score) in the order given. */
    public static Map<String, List<double[]>> meanSeries(List<Row> rows, Map<String, Map<String, Double>> groups, ToDoubleFunction<Scores> score) {
        Map<String, List<double[]>> series = new LinkedHashMap<>();
        groups.forEach((group, armToX) -> {
            List<double[]> points = new ArrayList<>();
            armToX.forEach((arm, x) -> {
                double[] v = values(rows, arm, score);
                if (v.length > 0) points.add(new double[] {x, Stats.mean(v)});
            });
            series.put(group, points);
        });
        return series;
    }
}
