package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.DistillJob;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.method.Methods;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.options.ProgressiveOptions;
import dev.retort.distill.qa.Contexts;
import dev.retort.distill.qa.QaEvaluation;
import dev.retort.distill.qa.QaFormat;
import dev.retort.distill.qa.QaMetrics;
import dev.retort.distill.qa.Sgp;
import dev.retort.distill.report.HtmlReport;
import dev.retort.distill.synth.GenerateDataJob;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.adapter.BottleneckConfig;
import dev.retort.models.lora.LoraConfig;
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

/**
 * {@code retort experiment progressive}: issue 13's ablation of progressive distillation with adapters and no labels
 * (Saxena, Janzen and Maass, NAACL 2025 SRW; Retort's reading is {@link ProgressiveOptions}) on the document world,
 * a domain whose labels (gold questions and answers) exist only for evaluation.
 * <ol>
 *   <li>the world and a teacher trained from scratch on another world's passages, questions and answers
 *       ({@link QaWorld}, the ace-attorney experiment's sizes);
 *   <li>the unlabelled domain inputs: every passage as a prompt {@code passage: P\nquestion:}, which the teacher
 *       continues with a question and its answer;
 *   <li>for each seed, every arm of {@link #arms} trains the teacher's layers {@code studentLayers} with adapters
 *       for the same number of steps: the full method, each of its parts removed in turn, and neo and seqkd on the
 *       teacher's responses to the same prompts ({@link GenerateDataJob}, sampled as the generation phase samples);
 *   <li>each student, and the teacher, answers the held-out gold questions greedily from the gold passage
 *       ({@link QaEvaluation#goldContext}: reading, not retrieval): EM and F1 against the gold answer, agreement
 *       with the teacher's answer, and the CPU-seconds its training cost (with the teacher's writing for the arms that
 *       learn from written text).
 * </ol>
 * Writes {@code results.jsonl} (one line per seed and arm) and {@code report.html}.
 */
public final class ProgressiveExperiment implements Experiment {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The adapters' size, LoRA's rank or a bottleneck's width: neo's default rank, for every arm. */
    static final int ADAPTER_SIZE = LoraOptions.NEO_RANK;
    /** Words per passage at most, as ace-attorney cuts them (the world's documents are shorter: one passage each). */
    static final int PASSAGE_WORDS = 128;
    /** The prompt templates of adaptive prompting: the input alone, and two short prefixes. */
    static final List<String> TEMPLATES = List.of("{input}", "a short text.\\n{input}", "read this.\\n{input}");

    public static final String TEACHER = "teacher", FULL = "progressive", NEO = "neo", SEQKD = "seqkd",
            BOTTLENECK = "progressive, bottleneck adapters", NO_REPRESENTATIONS = "progressive without representations phase",
            UNIFORM_TEMPLATES = "progressive, templates drawn uniformly", NO_TEMPLATES = "progressive without prompt templates",
            MERGED = "progressive, phases merged";

    /** Sizes: the world and teacher, the students' layers, their steps (every arm the same), the teacher's answer length. */
    public record Size(QaWorld.Size world, String studentLayers, int studentSteps, int maxNewTokens) {
        /** What bench/RESULTS.md records: the ace-attorney world and teacher, the pilot's 150 steps. */
        public static Size standard() {
            return new Size(AceAttorneyExperiment.Size.standard().world(), "0,3", 150, 24);
        }

        public static Size quick() {
            return new Size(AceAttorneyExperiment.Size.quick().world(), "0,3", 60, 24);
        }
    }

    /**
     * One way of training the student.
     *
     * @param onTeacherText whether it learns from the teacher's written responses (neo, seqkd) rather than from the
     *                      prompts themselves (progressive, which has the teacher write during training)
     */
    record Arm(String name, String method, boolean onTeacherText, LoraOptions adapters, ProgressiveOptions progressive) {}

    /** One arm's scores for one seed; CPU-seconds of its training and of the teacher's text it read. */
    public record Row(long seed, String arm, QaEvaluation.Scores scores, double agreement, double trainingCpuSeconds, double textCpuSeconds) {
        double cpuSeconds() {
            return trainingCpuSeconds + textCpuSeconds;
        }
    }

    /** What a run measured. */
    public record Summary(List<Row> rows, ResourceUse teacherTraining, Path results, Path report) {}

    @Override
    public String name() {
        return "progressive";
    }

    @Override
    public String description() {
        return "Saxena et al. 2025: progressive distillation with adapters and no labels, each part removed in turn, against neo and seqkd";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        Summary s = run(out, quick ? Size.quick() : Size.standard(), seeds, log);
        return new Outcome(TABLE_HEADER, table(s.rows()), findings(s.rows()), s.results(), s.report());
    }

    /**
     * The arms, every one with adapters of size {@link #ADAPTER_SIZE} on the same frozen student: the full method
     * (LoRA, the three default phases, the templates chosen by the bandit), each part removed or swapped in turn, and
     * the two single-phase baselines.
     */
    static List<Arm> arms(Path templates) {
        LoraOptions lora = LoraOptions.DEFAULTS.withRank(ADAPTER_SIZE, LoraOptions.DEFAULTS.alpha());
        LoraOptions bottleneck = new LoraOptions(null, LoraOptions.DEFAULTS.alpha(), 0, LoraConfig.LLAMA_MODULES, false, 1,
                LoraOptions.BOTTLENECK, ADAPTER_SIZE, BottleneckConfig.Placement.BOTH.cliName());
        ProgressiveOptions full = progressive(ProgressiveOptions.KINDS, templates, ProgressiveOptions.DEFAULTS.templateExplore(), false);
        return List.of(
                new Arm(FULL, "progressive", false, lora, full),
                new Arm(NEO, "neo", true, lora, ProgressiveOptions.DEFAULTS),
                new Arm(SEQKD, "seqkd", true, lora, ProgressiveOptions.DEFAULTS),
                new Arm(BOTTLENECK, "progressive", false, bottleneck, full),
                new Arm(NO_REPRESENTATIONS, "progressive", false, lora, progressive(List.of("outputs", "generation"), templates,
                        full.templateExplore(), false)),
                new Arm(UNIFORM_TEMPLATES, "progressive", false, lora, progressive(ProgressiveOptions.KINDS, templates, 1, false)),
                new Arm(NO_TEMPLATES, "progressive", false, lora, progressive(ProgressiveOptions.KINDS, null, full.templateExplore(), false)),
                new Arm(MERGED, "progressive", false, lora, progressive(ProgressiveOptions.KINDS, templates, full.templateExplore(), true)));
    }

    private static ProgressiveOptions progressive(List<String> phases, Path templates, double explore, boolean merge) {
        ProgressiveOptions d = ProgressiveOptions.DEFAULTS;
        return new ProgressiveOptions(phases, List.of(), List.of(), List.of(), List.of(), 0, null, d.lensWeight(), templates,
                d.templateEta(), explore, false, merge);
    }

    /** The paper's claims, each as "arm a beats arm b" on F1 over seeds ({@link Stats#beats}). */
    private static final List<List<String>> CLAIMS = List.of(
            List.of("Progressive phased transfer (representations by cross-entropy, then outputs, then generation, with adaptive "
                    + "prompting) beats single-phase token-level KD (neo) at equal steps.", FULL, NEO),
            List.of("It beats single-phase sequence-level KD (seqkd) on the teacher's text at equal steps.", FULL, SEQKD),
            List.of("The progressive schedule helps: the phases in order beat the same losses taking turns in one phase.", FULL, MERGED),
            List.of("Transferring the teacher's internal representations by cross-entropy (the representations phase) helps.",
                    FULL, NO_REPRESENTATIONS),
            List.of("Adaptive prompting helps: templates chosen by the bandit beat the same templates drawn uniformly.", FULL, UNIFORM_TEMPLATES),
            List.of("Prompt engineering helps: training through the templates beats the inputs alone.", FULL, NO_TEMPLATES));

    /** Each claim with F1 mean ± sd of both arms over seeds and its verdict; claims whose arms did not run are left out. */
    static List<Finding> findings(List<Row> rows) {
        List<Finding> out = new ArrayList<>();
        for (List<String> c : CLAIMS) {
            double[] a = f1(rows, c.get(1)), b = f1(rows, c.get(2));
            if (a.length == 0 || b.length == 0) continue;
            out.add(new Finding(c.get(0), String.format(Locale.ROOT, "F1 on the held-out gold questions %s (%s) against %s (%s), over %d seed(s)",
                    Stats.meanSd(a), c.get(1), Stats.meanSd(b), c.get(2), a.length), Stats.beats(a, b)));
        }
        return out;
    }

    private static double[] f1(List<Row> rows, String arm) {
        return rows.stream().filter(r -> r.arm().equals(arm)).mapToDouble(r -> r.scores().f1()).toArray();
    }

    public static Summary run(Path out, Size size, int seeds, PrintStream log) throws IOException {
        if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        Files.createDirectories(out);
        Path results = out.resolve("results.jsonl");
        Files.deleteIfExists(results);

        // 1. the world, its gold questions, the teacher; 2. the unlabelled prompts and the templates
        QaWorld.Made made = QaWorld.make(out, size.world(), "progressive", log);
        List<Contexts.Context> passages = Contexts.read(made.docs(), PASSAGE_WORDS);
        List<QaEvaluation.Gold> gold = QaEvaluation.read(made.gold());
        Path prompts = out.resolve("prompts.jsonl"), templates = out.resolve("templates.txt");
        StringBuilder lines = new StringBuilder();
        for (Contexts.Context c : passages) lines.append(JSON.createObjectNode().put("prompt", QaFormat.questionPrompt(c.text())).put("response", "")).append('\n');
        Files.writeString(prompts, lines, StandardCharsets.UTF_8);
        Files.writeString(templates, String.join("\n", TEMPLATES) + "\n", StandardCharsets.UTF_8);
        log.printf(Locale.ROOT, "progressive: %d unlabelled passages as prompts, %d held-out gold questions%n", passages.size(), gold.size());

        List<Row> rows = new ArrayList<>();
        int maxTokens = Sgp.Options.DEFAULTS.maxTokens();
        QaEvaluation.Run teacherAnswers;
        try (Llm t = Llm.open(made.teacher())) {
            teacherAnswers = QaEvaluation.goldContext(TEACHER, t, passages, gold, maxTokens);
        }
        log.println(teacherAnswers.scores().row());
        for (long seed = 1; seed <= seeds; seed++) rows.add(new Row(seed, TEACHER, teacherAnswers.scores(), 1, 0, 0));   // greedy: the same for every seed

        List<Arm> arms = arms(templates);
        for (long seed = 1; seed <= seeds; seed++) {
            // 3. the teacher's text for the arms that read it, sampled as the generation phase samples
            Path written = out.resolve("teacher-text-" + seed + ".jsonl");
            double textCpu = arms.stream().anyMatch(Arm::onTeacherText) ? writeTeacherText(made.teacher(), prompts, written, size, seed, log) : 0;
            for (Arm arm : arms) {
                Path run = out.resolve("student-" + arm.name().replaceAll("[^a-z]+", "-") + "-" + seed);
                DistillJob.Outcome o = trainStudent(made.teacher(), arm.onTeacherText() ? written : prompts, run, arm, size, seed);
                try (Llm student = Llm.open(run.resolve("student-base"), o.adapterDir())) {   // every arm trains adapters
                    QaEvaluation.Run r = QaEvaluation.goldContext(arm.name(), student, passages, gold, maxTokens);
                    Row row = new Row(seed, arm.name(), r.scores(), agreement(r, teacherAnswers), o.training().resources().cpuSeconds(),
                            arm.onTeacherText() ? textCpu : 0);
                    rows.add(row);
                    log.printf(Locale.ROOT, "%s  seed %d, agreement %.3f, %.1f CPU-s%n", r.scores().row(), seed, row.agreement(), row.cpuSeconds());
                }
            }
        }
        StringBuilder jsonl = new StringBuilder();
        for (Row r : rows) jsonl.append(json(r)).append('\n');
        Files.writeString(results, jsonl, StandardCharsets.UTF_8);
        Summary summary = new Summary(rows, made.teacherTraining(), results, out.resolve("report.html"));
        writeReport(summary, size, seeds, passages.size());
        return summary;
    }

    /** The teacher's response to every prompt, one each, at the generation phase's temperature and length; its CPU-seconds. */
    private static double writeTeacherText(Path teacher, Path prompts, Path written, Size size, long seed, PrintStream log) throws IOException {
        Files.deleteIfExists(written);
        Files.deleteIfExists(written.resolveSibling(written.getFileName() + ".progress"));
        ResourceUse.Meter meter = ResourceUse.start(1);
        GenerateDataJob.Summary s = GenerateDataJob.run(new GenerateDataJob.Options(teacher, null, prompts, written, 1,
                new Sampling(size.maxNewTokens(), (float) GkdOptions.DEFAULTS.genTemperature(), 0, 1, seed), 16, 64, false, false, false, null), log);
        log.println(s.line(written, 1));
        return meter.stop().cpuSeconds();
    }

    private static DistillJob.Outcome trainStudent(Path teacher, Path data, Path run, Arm arm, Size size, long seed) throws IOException {
        OutputDirectory.fresh(run);
        int steps = size.studentSteps();
        TrainingConfig training = TrainingConfig.DEFAULTS.withSteps(steps, size.world().batch(), 2e-3, 2e-4, steps / 20)
                .withSeed(seed).withEvaluation(Math.max(1, steps / 3), 4, 0);
        DistillOptions o = new DistillOptions(arm.method(), new ModelOptions(teacher, null, null, size.studentLayers()),
                new DataOptions(data, null, size.world().seq(), 0.1), training, arm.adapters(), Methods.named(arm.method()).kdDefaults(),
                FeatureOptions.DEFAULTS, MetaOptions.defaults(), new GkdOptions(GkdOptions.DEFAULTS.lambda(), GkdOptions.DEFAULTS.genTemperature(),
                size.maxNewTokens(), false), new OutputOptions(run, false, true), arm.progressive());
        return DistillJob.run(o);
    }

    /** The share of questions the student answers as the teacher does (normalised exact match of the two answers). */
    static double agreement(QaEvaluation.Run student, QaEvaluation.Run teacher) {
        double same = 0;
        for (int i = 0; i < student.answers().size(); i++) {
            same += QaMetrics.exactMatch(student.answers().get(i).answer(), teacher.answers().get(i).answer());
        }
        return same / Math.max(1, student.answers().size());
    }

    public static final List<String> TABLE_HEADER = List.of("arm", "EM", "F1", "agreement with teacher", "CPU-s (training + teacher's text)");

    /** Mean ± sd over seeds of each arm's EM, F1, agreement and CPU-seconds, in the order the arms ran. */
    public static List<List<String>> table(List<Row> rows) {
        Map<String, List<Row>> byArm = new LinkedHashMap<>();
        for (Row r : rows) byArm.computeIfAbsent(r.arm(), k -> new ArrayList<>()).add(r);
        List<List<String>> table = new ArrayList<>();
        for (var e : byArm.entrySet()) {
            List<Row> r = e.getValue();
            boolean teacher = e.getKey().equals(TEACHER);
            table.add(List.of(e.getKey(), Stats.meanSd(r.stream().mapToDouble(x -> x.scores().exactMatch()).toArray()),
                    Stats.meanSd(r.stream().mapToDouble(x -> x.scores().f1()).toArray()),
                    teacher ? "—" : Stats.meanSd(r.stream().mapToDouble(Row::agreement).toArray()),
                    teacher ? "—" : String.format(Locale.ROOT, "%.1f", r.stream().mapToDouble(Row::cpuSeconds).average().orElse(Double.NaN))));
        }
        return table;
    }

    private static ObjectNode json(Row r) {
        QaEvaluation.Scores s = r.scores();
        return JSON.createObjectNode().put("seed", r.seed()).put("arm", r.arm()).put("questions", s.questions())
                .put("exact_match", s.exactMatch()).put("f1", s.f1()).put("agreement", r.agreement())
                .put("training_cpu_s", r.trainingCpuSeconds()).put("teacher_text_cpu_s", r.textCpuSeconds());
    }

    private static void writeReport(Summary s, Size size, int seeds, int passages) {
        HtmlReport report = new HtmlReport("Retort experiment: progressive distillation with adapters (issue 13's ablation) on the document world");
        QaWorld.Size w = size.world();
        report.paragraph(String.format(Locale.ROOT, "Domain: %d passages about people who share names, jobs and towns, given to every "
                + "arm without a label (each as the prompt 'passage: P / question:', which the teacher continues with a question "
                + "and its answer). Teacher: %d layers, dim %d, trained %d steps on another world (%s). Students: its layers %s, "
                + "frozen, with adapters of size %d (LoRA unless named), %d steps of batch %d each, %d seed(s).",
                passages, w.layers(), w.dim(), w.teacherSteps(), s.teacherTraining().summary(), size.studentLayers(), ADAPTER_SIZE,
                size.studentSteps(), w.batch(), seeds));
        report.paragraph(String.format(Locale.ROOT, "Score: the %d held-out gold questions, whose labels are read only here: each "
                + "model answers greedily from the gold passage (reading, not retrieval); EM and F1 against the gold answer, and "
                + "agreement = the share of answers equal to the teacher's. A claim holds when its arm's mean F1 exceeds the "
                + "other's by more than the two standard deviations over seeds together.", w.goldQuestions()));
        for (Finding f : findings(s.rows())) report.finding(f.claim(), f.measured(), f.verdict().words);
        report.table("Answers on the gold questions (mean ± sd over seeds; CPU-s the mean)", TABLE_HEADER, table(s.rows()));
        report.write(s.report());
    }
}
