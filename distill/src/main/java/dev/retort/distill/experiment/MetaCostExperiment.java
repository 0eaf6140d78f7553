package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.autograd.BufferPool;
import dev.retort.distill.DistillJob;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.bench.MetaBench;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.DemoRun;
import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.report.HtmlReport;
import dev.retort.distill.train.Evaluator;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code retort experiment meta-cost}: Cantini, Gabriele and Orsino (2025) — a LoRA teacher meta-update cuts the
 * time, memory and energy of meta-distillation (MetaDistil) without hurting the student — and how that saving
 * scales with the teacher. Two parts:
 * <ol>
 *   <li><b>cost</b>: one student shape and teachers grown from it in width and depth ({@link Growth}: width × 1,
 *       1.5, 2 and depth × 1, 2, 4, so about 1×, 4× and 16× the student's parameters, as parameters go with
 *       width² × depth); for each teacher, a meta-distillation step with the LoRA meta-update, with the full
 *       meta-update, and plain KD for scale, each measured by {@link MetaBench} ({@code retort bench meta --json})
 *       in its own child JVM, so each arm's peak RSS is its own. The arms of one teacher run back to back, and the
 *       ratios full/LoRA are taken within one run;
 *   <li><b>quality</b>: on the demo task ({@link DemoTask}: a teacher trained from scratch, a small transfer set),
 *       the same student distilled for the same steps with kd, meta-lora and meta-full (AdamW), and meta-lora with
 *       RMSprop for the student (the paper's optimizer comparison), for each seed; held-out perplexity and top-1
 *       agreement with the original teacher (the meta arms change theirs). Quality is measured at the demo's
 *       teacher only: training 4× and 16× teachers from scratch does not fit a few minutes on two cores.
 * </ol>
 */
public final class MetaCostExperiment implements Experiment {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The cost arms, in the order each teacher runs them. */
    public static final List<String> COST_ARMS = List.of("meta-lora", "meta-full", "kd");
    /** The quality arms: method, and the student's optimizer. */
    public static final List<String> QUALITY_ARMS = List.of("kd", "meta-lora", "meta-full", "meta-lora+rmsprop");

    /** A Llama shape without vocabulary and positions. */
    public record Shape(int dim, int layers, int heads, int kvHeads, int hidden) {
        public Shape {
            if (dim < 1 || layers < 1 || heads < 1 || kvHeads < 1 || hidden < 1 || dim % heads != 0 || heads % kvHeads != 0) {
                throw new IllegalArgumentException("meta-cost: bad shape dim " + dim + ", layers " + layers + ", heads " + heads
                        + ", kv heads " + kvHeads + ", hidden " + hidden);
            }
        }

        /**
         * This shape grown: heads (of the same head size) and MLP width × {@code width}, keeping the heads per
         * key/value head; layers × {@code depth}.
         */
        public Shape grown(Growth g) {
            int group = heads / kvHeads, newHeads = (int) Math.round(heads * g.width());
            if (newHeads % group != 0) {
                throw new IllegalArgumentException("meta-cost: width × " + g.width() + " gives " + newHeads + " heads, not a multiple of "
                        + group + " heads per key/value head");
            }
            return new Shape(newHeads * (dim / heads), layers * g.depth(), newHeads, newHeads / group, (int) Math.round(hidden * g.width()));
        }

        LlamaConfig config(int vocab, int seq) {
            return new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, vocab, seq, 1e-5, 10000.0, null, true,
                    1, List.of(2), false, false, dev.retort.tensor.DType.F32);
        }

        String describe() {
            return String.format(Locale.ROOT, "dim %d, %d layers, %d heads (%d kv), MLP %d", dim, layers, heads, kvHeads, hidden);
        }
    }

    /** How a teacher is grown from the student: {@code label} (e.g. "16x"), width and depth factors. */
    public record Growth(String label, double width, int depth) {}

    /** The paper's teacher sizes: about 1×, 4× and 16× the student's parameters. */
    public static final List<Growth> GROWTHS = List.of(new Growth("1x", 1, 1), new Growth("4x", 1.5, 2), new Growth("16x", 2, 4));

    /**
     * Sizes. Cost: the student's shape, vocabulary, sequence length, batch, timed steps per arm (after two warm-up
     * steps) and the teachers. Quality: the demo task, the student's teacher layers and its training steps.
     */
    public record Size(Shape student, int vocab, int seq, int batch, int costSteps, List<Growth> teachers,
                       DemoTask.Size task, String studentLayers, int distillSteps) {
        /** What bench/RESULTS.md records. */
        public static Size standard() {
            return new Size(new Shape(256, 2, 8, 4, 768), 512, 128, 8, 2, GROWTHS, DemoRun.Size.standard().task(), "0,2", 100);
        }

        /** What {@code --quick} runs: a few minutes on two cores. */
        public static Size quick() {
            return new Size(new Shape(64, 2, 4, 2, 192), 256, 32, 4, 2, GROWTHS,
                    new DemoTask.Size(1500, 120, 320, 64, 4, 4, 2, 192, 32, 8, 150, 1), "0,2", 30);
        }
    }

    /** One cost arm's measurement for one teacher. */
    public record CostRow(Growth teacher, MetaBench.Measurement m) {}

    /** One quality arm's result for one seed. */
    public record QualityRow(String arm, long seed, double perplexity, double agreement, long steps, ResourceUse training) {}

    /** What a run measured. */
    public record Summary(List<CostRow> cost, List<QualityRow> quality, long qualityTeacherParams, long qualityStudentParams,
                          ResourceUse teacherTraining, Path results, Path report) {}

    @Override
    public String name() {
        return "meta-cost";
    }

    @Override
    public String description() {
        return "Cantini et al. 2025: LoRA vs full teacher meta-update in meta-distillation, cost as the teacher grows 1x-16x, and quality";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        Summary s = run(out, quick ? Size.quick() : Size.standard(), seeds, log);
        return new Outcome(TABLE_HEADER, table(s), findings(s), s.results(), s.report());
    }

    public static Summary run(Path out, Size size, int seeds, PrintStream log) throws IOException {
        if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        Files.createDirectories(out);
        Path results = out.resolve("results.jsonl");
        Files.deleteIfExists(results);

        // 1. cost: every arm of every teacher in its own JVM
        Path logs = Files.createDirectories(out.resolve("cost-logs"));
        List<CostRow> cost = new ArrayList<>();
        for (Growth g : size.teachers()) {
            Shape teacher = size.student().grown(g);
            log.printf(Locale.ROOT, "meta-cost: teacher %s (%s), student %s%n", g.label(), teacher.describe(), size.student().describe());
            for (String arm : COST_ARMS) {
                MetaBench.Measurement m = measureInChild(logs.resolve(g.label() + "-" + arm + ".log"), arm, size, teacher);
                log.println("  " + m.line());
                cost.add(new CostRow(g, m));
                append(results, json(cost.getLast()));
            }
        }

        // 2. quality on the demo task
        Path work = out.resolve("quality");
        DemoTask.Files task = DemoTask.prepare(work, size.task(), log);
        List<QualityRow> quality = new ArrayList<>();
        Tokenizer tokenizer = Tokenizers.load(task.tokenizer());
        PackedData heldOut = PackedData.pack(CorpusReader.read(task.heldOut(), tokenizer), size.task().seq(), tokenizer.eosId());
        long teacherParams = 0, studentParams = 0;
        for (long seed = 1; seed <= seeds; seed++) {
            for (String arm : QUALITY_ARMS) {
                Path run = OutputDirectory.fresh(work.resolve(arm + "-seed" + seed));
                DistillJob.Outcome o = DistillJob.run(qualityOptions(arm, seed, size, task, run));
                try (Arena arena = Arena.ofShared(); ModelWeights tw = ModelWeights.open(task.teacher());
                     ModelWeights sw = ModelWeights.open(o.studentDir()); BufferPool pool = new BufferPool()) {
                    LlamaModel t = LlamaModel.load(LlamaConfig.read(task.teacher()), tw, arena, false);
                    LlamaModel st = LlamaModel.load(LlamaConfig.read(o.studentDir()), sw, arena, false);
                    teacherParams = MetaBench.count(t);
                    studentParams = MetaBench.count(st);
                    Evaluator.Result r = Evaluator.evaluate(st, t, heldOut, 0, 4, pool);
                    QualityRow row = new QualityRow(arm, seed, r.perplexity(), r.agreement(), o.training().steps(), o.training().resources());
                    quality.add(row);
                    append(results, json(row));
                    log.printf(Locale.ROOT, "meta-cost: %s seed %d: held-out perplexity %.4f, agreement %.4f (%s)%n", arm, seed,
                            row.perplexity(), row.agreement(), row.training().summary());
                }
            }
        }
        Summary summary = new Summary(cost, quality, teacherParams, studentParams, task.teacherTraining(), results, out.resolve("report.html"));
        writeReport(summary, size, seeds);
        return summary;
    }

    /** One row more in results.jsonl, written as soon as it is measured (a stopped run keeps what it measured). */
    private static void append(Path results, ObjectNode row) throws IOException {
        Files.writeString(results, row + "\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
    }

    /** {@code retort bench meta --json} for one arm in a JVM of its own ({@link ChildJvm}). */
    static MetaBench.Measurement measureInChild(Path logFile, String arm, Size size, Shape teacher) throws IOException {
        Shape s = size.student();
        List<String> args = new ArrayList<>(List.of("bench", "meta", "--json", "--modes", arm, "--steps", Integer.toString(size.costSteps())));
        String[][] flags = {{"--dim", "" + s.dim()}, {"--layers", "" + s.layers()}, {"--heads", "" + s.heads()}, {"--kv-heads", "" + s.kvHeads()},
                {"--hidden", "" + s.hidden()}, {"--vocab", "" + size.vocab()}, {"--seq", "" + size.seq()}, {"--batch", "" + size.batch()},
                {"--teacher-dim", "" + teacher.dim()}, {"--teacher-layers", "" + teacher.layers()}, {"--teacher-heads", "" + teacher.heads()},
                {"--teacher-kv-heads", "" + teacher.kvHeads()}, {"--teacher-hidden", "" + teacher.hidden()}};
        for (String[] f : flags) args.addAll(List.of(f));
        List<String> lines = ChildJvm.retort(args, logFile, "meta-cost: the " + arm + " arm");
        List<String> measured = lines.stream().filter(l -> l.startsWith("{")).toList();
        if (measured.size() != 1) {
            throw new IllegalStateException("meta-cost: the " + arm + " arm's process printed " + measured.size()
                    + " measurements, expected 1; its log: " + logFile);
        }
        return MetaBench.Measurement.fromJson(measured.getFirst());
    }

    private static DistillOptions qualityOptions(String arm, long seed, Size size, DemoTask.Files task, Path run) {
        boolean meta = arm.startsWith("meta");
        int steps = size.distillSteps(), batch = size.task().batch();
        TrainingConfig training = TrainingConfig.DEFAULTS.withSteps(steps, batch, 3e-3, 3e-4, steps / 20).withSeed(seed)
                .withEvaluation(0, 8, 0).withOptimizer(arm.endsWith("+rmsprop") ? "rmsprop" : "adamw");
        MetaOptions m = MetaOptions.defaults();
        MetaOptions metaOptions = new MetaOptions(arm.startsWith("meta-full") ? "full" : "lora", m.teacherLr(), m.pilotLr(), null,
                m.quizFraction(), m.fdStep(), m.teacherLoraRank(), m.teacherLoraAlpha());
        return new DistillOptions(meta ? "meta" : "kd", new ModelOptions(task.teacher(), null, null, size.studentLayers()),
                DataOptions.DEFAULTS.withFiles(task.transfer(), task.heldOut()).withSeqLen(size.task().seq()), training,
                LoraOptions.DEFAULTS, KdConfig.DEFAULTS.withAlpha(0.9), FeatureOptions.DEFAULTS, metaOptions, GkdOptions.DEFAULTS,
                new OutputOptions(run, false, false));
    }

    // ---- summaries ------------------------------------------------------------------------------------------------

    public static final List<String> TABLE_HEADER = List.of("part", "teacher", "arm", "ms / step", "CPU-s / step", "teacher-side state",
            "peak RSS", "J / step", "held-out ppl", "agreement");

    /** Full/LoRA ratios for one teacher: ms per step, CPU-seconds per step, peak RSS, teacher-side state, energy per step. */
    public record Ratios(Growth teacher, double teacherToStudent, double time, double cpu, double peakRss, double state, double energy) {}

    /** The full/LoRA ratios for each teacher, in the order the teachers ran. */
    public static List<Ratios> ratios(List<CostRow> cost) {
        Map<Growth, Map<String, MetaBench.Measurement>> byTeacher = byTeacher(cost);
        List<Ratios> out = new ArrayList<>();
        for (var e : byTeacher.entrySet()) {
            MetaBench.Measurement lora = e.getValue().get("meta-lora"), full = e.getValue().get("meta-full");
            if (lora == null || full == null) continue;
            out.add(new Ratios(e.getKey(), (double) full.teacherParams() / full.studentParams(), full.secondsPerStep() / lora.secondsPerStep(),
                    full.cpuSecondsPerStep() / lora.cpuSecondsPerStep(),
                    (double) full.peakRssBytes() / lora.peakRssBytes(), (double) full.teacherStateBytes() / lora.teacherStateBytes(),
                    full.joulesPerStep() / lora.joulesPerStep()));
        }
        return out;
    }

    private static Map<Growth, Map<String, MetaBench.Measurement>> byTeacher(List<CostRow> cost) {
        Map<Growth, Map<String, MetaBench.Measurement>> by = new LinkedHashMap<>();
        for (CostRow c : cost) by.computeIfAbsent(c.teacher(), k -> new LinkedHashMap<>()).put(c.m().mode(), c.m());
        return by;
    }

    public static List<List<String>> table(Summary s) {
        List<List<String>> rows = new ArrayList<>();
        Map<Growth, Map<String, MetaBench.Measurement>> by = byTeacher(s.cost());
        Map<Growth, Ratios> ratios = new LinkedHashMap<>();
        for (Ratios r : ratios(s.cost())) ratios.put(r.teacher(), r);
        for (var e : by.entrySet()) {
            for (MetaBench.Measurement m : e.getValue().values()) {
                String teacher = String.format(Locale.ROOT, "%s (%.1fM, %.1fx)", e.getKey().label(), m.teacherParams() / 1e6,
                        (double) m.teacherParams() / m.studentParams());
                rows.add(List.of("cost", teacher, m.mode(), fmt("%.0f", m.secondsPerStep() * 1e3), fmt("%.2f", m.cpuSecondsPerStep()), mb(m.teacherStateBytes()),
                        mb(m.peakRssBytes()), fmt("%.1f", m.joulesPerStep()), "-", "-"));
            }
            Ratios r = ratios.get(e.getKey());
            if (r != null) {
                rows.add(List.of("cost", e.getKey().label(), "full/LoRA", fmt("%.2fx", r.time()), fmt("%.2fx", r.cpu()), fmt("%.1fx", r.state()),
                        fmt("%.2fx", r.peakRss()), fmt("%.2fx", r.energy()), "-", "-"));
            }
        }
        String teacher = String.format(Locale.ROOT, "demo (%.2fM, %.1fx)", s.qualityTeacherParams() / 1e6,
                (double) s.qualityTeacherParams() / Math.max(1, s.qualityStudentParams()));
        for (String arm : QUALITY_ARMS) {
            List<QualityRow> q = s.quality().stream().filter(r -> r.arm().equals(arm)).toList();
            if (q.isEmpty()) continue;
            double ms = q.stream().mapToDouble(r -> r.training().wallSeconds() * 1e3 / r.steps()).average().orElse(Double.NaN);
            double cpu = q.stream().mapToDouble(r -> r.training().cpuSeconds() / r.steps()).average().orElse(Double.NaN);
            double joules = q.stream().mapToDouble(r -> r.training().energyJoules() / r.steps()).average().orElse(Double.NaN);
            rows.add(List.of("quality", teacher, arm, fmt("%.0f", ms), fmt("%.2f", cpu), "-", "-", fmt("%.2f", joules),
                    Stats.meanSd(q.stream().mapToDouble(QualityRow::perplexity).toArray()),
                    Stats.meanSd(q.stream().mapToDouble(QualityRow::agreement).toArray())));
        }
        return rows;
    }

    /**
     * The paper's claims, each with a rule: time (judged on CPU-seconds per step, which a busy machine does not
     * inflate as it does wall time), peak memory and energy hold when the full/LoRA ratio exceeds 1
     * at the largest teacher and is larger there than at the smallest (the saving grows with the teacher), do not
     * hold when it is at most 1 at the largest, else inconclusive; quality holds when the LoRA arm's mean held-out
     * perplexity is at most the full arm's plus the larger of their spreads over seeds; the optimizer comparison
     * holds (the choice matters) when RMSprop's and AdamW's means differ by more than the two spreads.
     */
    public static List<Finding> findings(Summary s) {
        List<Finding> out = new ArrayList<>();
        List<Ratios> r = ratios(s.cost());
        if (r.size() >= 2) {
            out.add(scaling("A LoRA teacher meta-update makes a meta-distillation step faster than a full one, more so as the teacher grows.",
                    "CPU-seconds per step", r, r.stream().mapToDouble(Ratios::cpu).toArray(),
                    "; wall ms per step (median, inflated by whatever else runs on the machine): "
                            + ratioList(r, r.stream().mapToDouble(Ratios::time).toArray())));
            out.add(scaling("A LoRA teacher meta-update needs less peak memory than a full one, more so as the teacher grows.",
                    "peak RSS (one JVM per arm)", r, r.stream().mapToDouble(Ratios::peakRss).toArray(),
                    "; teacher-side state (φ + AdamW + gradients): " + ratioList(r, r.stream().mapToDouble(Ratios::state).toArray())));
            out.add(scaling("A LoRA teacher meta-update uses less energy per step than a full one, more so as the teacher grows.",
                    "energy per step (" + s.cost().getFirst().m().resources().energySource() + ")", r, r.stream().mapToDouble(Ratios::energy).toArray(), ""));
        }
        double[] lora = perplexities(s, "meta-lora"), full = perplexities(s, "meta-full");
        if (lora.length > 0 && full.length > 0) {
            double allowed = Stats.mean(full) + Math.max(Stats.sd(lora), Stats.sd(full));
            out.add(new Finding("The LoRA meta-update does not hurt the student: its quality at equal steps matches the full meta-update's.",
                    String.format(Locale.ROOT, "held-out perplexity %s with the LoRA meta-update against %s with the full one (plain KD %s), "
                            + "%d seed(s), at the demo teacher", Stats.meanSd(lora), Stats.meanSd(full), Stats.meanSd(perplexities(s, "kd")), lora.length),
                    Stats.mean(lora) <= allowed ? Verdict.HOLDS : Verdict.DOES_NOT_HOLD));
        }
        double[] rms = perplexities(s, "meta-lora+rmsprop");
        if (rms.length > 0 && lora.length > 0) {
            double gap = Stats.mean(rms) - Stats.mean(lora), noise = Stats.sd(rms) + Stats.sd(lora);
            String better = gap < 0 ? "RMSprop" : "AdamW";
            out.add(new Finding("The student's optimizer matters in meta-distillation: RMSprop and AdamW (which the paper compares) give "
                    + "students of different quality at equal steps.",
                    String.format(Locale.ROOT, "held-out perplexity %s with RMSprop against %s with AdamW (LoRA meta-update, same learning rate), "
                            + "%d seed(s)%s", Stats.meanSd(rms), Stats.meanSd(lora), rms.length,
                            Math.abs(gap) > noise ? "; " + better + " is better by more than the spread" : "; the gap is within the spread"),
                    Math.abs(gap) > noise ? Verdict.HOLDS : Verdict.INCONCLUSIVE));
        }
        return out;
    }

    /** The rule for a saving that should grow with the teacher: see {@link #findings}. */
    static Verdict scalingVerdict(double[] ratios) {
        double first = ratios[0], last = ratios[ratios.length - 1];
        if (!(last > 1)) return Verdict.DOES_NOT_HOLD;
        return last > first ? Verdict.HOLDS : Verdict.INCONCLUSIVE;
    }

    private static Finding scaling(String claim, String what, List<Ratios> r, double[] ratios, String more) {
        return new Finding(claim, "full/LoRA " + what + ": " + ratioList(r, ratios) + more, scalingVerdict(ratios));
    }

    private static String ratioList(List<Ratios> r, double[] ratios) {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < r.size(); i++) {
            parts.add(String.format(Locale.ROOT, "%.2fx at the %s teacher (%.1fx the student)", ratios[i], r.get(i).teacher().label(),
                    r.get(i).teacherToStudent()));
        }
        return String.join(", ", parts);
    }

    private static double[] perplexities(Summary s, String arm) {
        return s.quality().stream().filter(q -> q.arm().equals(arm)).mapToDouble(QualityRow::perplexity).toArray();
    }

    private static ObjectNode json(CostRow c) {
        ObjectNode o = JSON.createObjectNode().put("part", "cost").put("teacher", c.teacher().label())
                .put("teacher_width_factor", c.teacher().width()).put("teacher_depth_factor", c.teacher().depth());
        o.setAll(c.m().json());
        return o.put("joules_per_step", c.m().joulesPerStep());
    }

    private static ObjectNode json(QualityRow q) {
        ObjectNode o = JSON.createObjectNode().put("part", "quality").put("arm", q.arm()).put("seed", q.seed())
                .put("perplexity", q.perplexity()).put("agreement", q.agreement()).put("steps", q.steps());
        q.training().asRow().forEach((k, v) -> o.putPOJO(k, v));
        return o;
    }

    private static void writeReport(Summary s, Size size, int seeds) {
        HtmlReport report = new HtmlReport("Retort experiment: meta-distillation with a LoRA vs a full teacher meta-update (Cantini et al.)");
        report.paragraph(String.format(Locale.ROOT, "Cost: student %s, vocabulary %d, %d × %d tokens per step; teachers grown from it in width "
                        + "(heads and MLP) and depth: %s. Each arm ran %d timed steps after 2 warm-up steps (median reported) in its own JVM "
                        + "(retort bench meta --json, serial GC so that the heap follows what is live), so its peak RSS is its own; CPU time and "
                        + "energy per step are over its timed steps (energy: %s). Teacher-side state = φ + AdamW moments + gradients = 4 φ (φ: the LoRA adapters, rank %d, or every teacher weight).",
                size.student().describe(), size.vocab(), size.batch(), size.seq(), describe(size), size.costSteps(),
                s.cost().isEmpty() ? "-" : s.cost().getFirst().m().resources().energySource(), MetaBench.TEACHER_LORA_RANK));
        report.paragraph(String.format(Locale.ROOT, "Quality: the demo task (%d paragraphs; teacher %d layers, dim %d, %d steps: %s); student "
                        + "= teacher layers %s, every weight trained, %d steps on %d transfer paragraphs, fkl T = 2, α = 0.9, lr 3e-3; meta: "
                        + "the command line's defaults (teacher LoRA r 8, teacher lr 1e-4, pilot lr 0.01, quiz = 10%% of the transfer rows); "
                        + "%d seed(s). Agreement is with the original teacher. Quality is measured at the demo's teacher only: training the "
                        + "4x and 16x teachers from scratch does not fit the experiment's time.", size.task().paragraphs(), size.task().layers(),
                size.task().dim(), size.task().teacherSteps(), s.teacherTraining().summary(), size.studentLayers(), size.distillSteps(),
                size.task().transferParagraphs(), seeds));
        for (Finding f : findings(s)) report.finding(f.claim(), f.measured(), f.verdict().words);
        Map<String, List<double[]>> ratio = new LinkedHashMap<>();
        for (Ratios r : ratios(s.cost())) {
            ratio.computeIfAbsent("time", k -> new ArrayList<>()).add(new double[] {r.teacherToStudent(), r.time()});
            ratio.computeIfAbsent("peak RSS", k -> new ArrayList<>()).add(new double[] {r.teacherToStudent(), r.peakRss()});
            ratio.computeIfAbsent("energy", k -> new ArrayList<>()).add(new double[] {r.teacherToStudent(), r.energy()});
        }
        report.chart("Full / LoRA meta-update as the teacher grows", "teacher parameters / student parameters", "full / LoRA", ratio);
        Map<String, List<double[]>> state = new LinkedHashMap<>(), ms = new LinkedHashMap<>(), rss = new LinkedHashMap<>();
        for (CostRow c : s.cost()) {
            double x = (double) c.m().teacherParams() / c.m().studentParams();
            if (!c.m().mode().equals("kd")) state.computeIfAbsent(c.m().mode(), k -> new ArrayList<>()).add(new double[] {x, c.m().teacherStateBytes() / 1e6});
            ms.computeIfAbsent(c.m().mode(), k -> new ArrayList<>()).add(new double[] {x, c.m().secondsPerStep() * 1e3});
            rss.computeIfAbsent(c.m().mode(), k -> new ArrayList<>()).add(new double[] {x, c.m().peakRssBytes() / 1e6});
        }
        report.chart("Milliseconds per step", "teacher parameters / student parameters", "ms / step", ms);
        report.chart("Peak RSS of each arm's JVM", "teacher parameters / student parameters", "MB", rss);
        report.chart("Teacher-side trainable state (φ + AdamW + gradients)", "teacher parameters / student parameters", "MB", state);
        report.table("Cost and quality", TABLE_HEADER, table(s));
        report.write(s.report());
    }

    private static String describe(Size size) {
        List<String> parts = new ArrayList<>();
        for (Growth g : size.teachers()) {
            parts.add(String.format(Locale.ROOT, "%s = width × %s, depth × %d (%s)", g.label(), g.width(), g.depth(), size.student().grown(g).describe()));
        }
        return String.join("; ", parts);
    }

    private static String mb(long bytes) {
        return bytes < 0 ? "unknown" : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    private static String fmt(String format, double v) {
        return String.format(Locale.ROOT, format, v);
    }
}
