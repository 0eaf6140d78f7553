package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.DistillJob;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.demo.DocumentWorld;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.qa.ContextIndex;
import dev.retort.distill.qa.Contexts;
import dev.retort.distill.qa.QaEvaluation;
import dev.retort.distill.qa.Sgp;
import dev.retort.distill.report.HtmlReport;
import dev.retort.distill.synth.SynthesizeJob;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
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
 * {@code retort experiment ace-attorney}: the Ace-Attorney pipeline (Italiani, Moro, Ragazzi 2025) in miniature,
 * on the {@link DocumentWorld}, where BM25's best hit is often a near miss.
 * <ol>
 *   <li>a teacher is trained from scratch to read a passage, write a question about it and answer questions — on a
 *       world with other facts, so it brings the skill and not the answers;
 *   <li>for each seed, it synthesises triplets from the collection ({@link SynthesizeJob}: two samples per context at
 *       temperature 1, filtered), and two students — the teacher's layers {@code studentLayers}, fine-tuned whole
 *       with {@code seqkd} — learn from them: one on question and answer (the default {@code --train-on}), one on
 *       the answer alone (the reading, as an ablation);
 *   <li>on held-out gold questions that no model was trained on: EM, F1 and retrieval accuracy of the teacher and
 *       the students with BM25's top hit, and of the students with SGP at several weights w ({@link Sgp}); CPU
 *       seconds per answered question for each.
 * </ol>
 * Writes {@code results.jsonl} (one line per seed and pipeline), {@code report.html}, and returns the rows for a table.
 */
public final class AceAttorneyExperiment implements Experiment {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The SGP weights w scored for each student (1 is BM25's top hit, 0 the student's favourite). */
    public static final List<Double> WEIGHTS = List.of(0.0, 0.25, 0.5, 0.75, 1.0);

    /** Sizes; {@link #standard()} is what bench/RESULTS.md records, {@link #quick()} what --quick runs. */
    public record Size(int people, int goldQuestions, int teacherExamples, int vocab, int dim, int layers, int heads, int kvHeads,
                       int hidden, int seq, int batch, int teacherSteps, String studentLayers, int studentSteps, int samplesPerContext,
                       double minSupport) {
        public static Size standard() {
            return new Size(300, 200, 8000, 512, 128, 4, 4, 2, 384, 128, 16, 1200, "0,3", 150, 2, 0.5);
        }

        public static Size quick() {
            return new Size(120, 60, 3000, 384, 96, 4, 4, 2, 256, 128, 16, 500, "0,3", 80, 2, 0.5);
        }

        /** The world's and the teacher's part. */
        QaWorld.Size world() {
            return new QaWorld.Size(people, goldQuestions, teacherExamples, vocab, dim, layers, heads, kvHeads, hidden, seq, batch, teacherSteps);
        }
    }

    /** One pipeline's scores for one seed. */
    public record Row(long seed, String pipeline, QaEvaluation.Scores scores) {}

    /** What a run measured. */
    public record Summary(List<Row> rows, Map<Long, SynthesizeJob.Summary> synthesis, ResourceUse teacherTraining,
                          Map<String, ResourceUse> studentTraining, Path results, Path report) {}

    @Override
    public String name() {
        return "ace-attorney";
    }

    @Override
    public String description() {
        return "Italiani et al. 2025: QA triplets the teacher writes from documents, and SGP choosing among BM25's candidates";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        Summary s = run(out, quick ? Size.quick() : Size.standard(), seeds, log);
        return new Outcome(TABLE_HEADER, table(s.rows()), findings(s.rows()), s.results(), s.report());
    }

    /**
     * The paper's claim that selecting the context by the student's own likelihood (SGP, at the default weight) retrieves
     * better than BM25's top hit, judged on the question-and-answer student by {@link Stats#beats}.
     */
    static List<Finding> findings(List<Row> rows) {
        String sgp = "sgp+student w=" + Sgp.Options.DEFAULTS.bm25Weight(), bm25 = "bm25+student";
        double[] a = retrieval(rows, sgp), b = retrieval(rows, bm25);
        if (a.length == 0 || b.length == 0) return List.of();
        Verdict v = Stats.beats(a, b);
        return List.of(new Finding("Choosing the context by the student's own likelihood of the question and its answer (SGP) finds the "
                + "right passage more often than BM25's top hit.", String.format(Locale.ROOT, "retrieval accuracy %s with SGP (w = %.1f) "
                + "against %s with BM25's top hit, over %d seed(s)", Stats.meanSd(a), Sgp.Options.DEFAULTS.bm25Weight(), Stats.meanSd(b), a.length), v));
    }

    private static double[] retrieval(List<Row> rows, String pipeline) {
        return rows.stream().filter(r -> r.pipeline().equals(pipeline)).mapToDouble(r -> r.scores().retrieval()).toArray();
    }

    public static Summary run(Path out, Size size, int seeds, PrintStream log) throws IOException {
        if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        Files.createDirectories(out);
        Path results = out.resolve("results.jsonl");
        OutputDirectory.fresh(out.resolve("index"));
        Files.deleteIfExists(results);

        // 1. the world, its gold questions, the teacher
        QaWorld.Made made = QaWorld.make(out, size.world(), "ace-attorney", log);
        Path docs = made.docs(), gold = made.gold(), teacher = made.teacher(), index = out.resolve("index");
        ResourceUse teacherUse = made.teacherTraining();
        int contexts = ContextIndex.build(Contexts.read(docs, 128), docs, 128, index);
        List<QaEvaluation.Gold> questions = QaEvaluation.read(gold);
        log.printf(Locale.ROOT, "ace-attorney: %d contexts indexed, %d gold questions%n", contexts, questions.size());

        List<Row> rows = new ArrayList<>();
        Map<Long, SynthesizeJob.Summary> synthesis = new LinkedHashMap<>();
        Map<String, ResourceUse> studentUse = new LinkedHashMap<>();
        Sgp.Options sgp = Sgp.Options.DEFAULTS;
        try (ContextIndex idx = ContextIndex.open(index)) {
            try (Llm t = Llm.open(teacher)) {
                QaEvaluation.Run r = QaEvaluation.bm25Top1("bm25+teacher", t, idx, questions, sgp.maxTokens());
                for (long seed = 1; seed <= seeds; seed++) rows.add(new Row(seed, r.scores().pipeline(), r.scores()));   // greedy: the same for every seed
                log.println(r.scores().row());
            }
            for (long seed = 1; seed <= seeds; seed++) {
                // 2. synthesis and the two students
                Path triplets = out.resolve("triplets-" + seed + ".jsonl");
                for (Path f : List.of(triplets, SynthesizeJob.rejectedFile(triplets))) Files.deleteIfExists(f);
                SynthesizeJob.Summary s = SynthesizeJob.run(new SynthesizeJob.Options(teacher, null, docs, triplets, 128, null,
                        size.samplesPerContext(), new Sampling(32, 1.0f, 0, 1.0f, seed), 16, 64, size.minSupport(),
                        SynthesizeJob.TrainOn.QUESTION_ANSWER, null), log);
                synthesis.put(seed, s);
                log.println(s.line(triplets, size.samplesPerContext()));
                if (s.kept() == 0) {
                    throw new IllegalStateException("the teacher wrote no triplet that passed the filters (" + s.rejected()
                            + "): it needs more than " + size.teacherSteps() + " training steps for this world");
                }
                Path answerOnly = out.resolve("triplets-" + seed + "-answer-only.jsonl");
                SynthesizeJob.retrain(triplets, answerOnly, SynthesizeJob.TrainOn.ANSWER);
                for (String variant : List.of("qa", "answer-only")) {
                    Path data = variant.equals("qa") ? triplets : answerOnly;
                    Path run = out.resolve("student-" + variant + "-" + seed);
                    DistillJob.Outcome o = trainStudent(teacher, data, run, size, seed);
                    studentUse.put(variant + " seed " + seed, o.training().resources());
                    String name = variant.equals("qa") ? "student" : "student(answer-only)";
                    try (Llm student = Llm.open(o.studentDir())) {
                        QaEvaluation.Run top1 = QaEvaluation.bm25Top1("bm25+" + name, student, idx, questions, sgp.maxTokens());
                        rows.add(new Row(seed, top1.scores().pipeline(), top1.scores()));
                        log.println(top1.scores().row());
                        for (QaEvaluation.Run r : QaEvaluation.sgpWeights("sgp+" + name, student, idx, questions, sgp, WEIGHTS)) {
                            rows.add(new Row(seed, r.scores().pipeline(), r.scores()));
                            log.println(r.scores().row());
                        }
                    }
                }
            }
        }
        StringBuilder lines = new StringBuilder();
        for (Row r : rows) lines.append(json(r)).append('\n');
        Files.writeString(results, lines, StandardCharsets.UTF_8);
        Summary summary = new Summary(rows, synthesis, teacherUse, studentUse, results, out.resolve("report.html"));
        writeReport(summary, size, seeds);
        return summary;
    }

    /** Mean and sample standard deviation over seeds of each pipeline's EM, F1, retrieval and CPU-s per question. */
    public static List<List<String>> table(List<Row> rows) {
        Map<String, List<QaEvaluation.Scores>> byPipeline = new LinkedHashMap<>();
        for (Row r : rows) byPipeline.computeIfAbsent(r.pipeline(), k -> new ArrayList<>()).add(r.scores());
        List<List<String>> table = new ArrayList<>();
        for (var e : byPipeline.entrySet()) {
            List<QaEvaluation.Scores> s = e.getValue();
            table.add(List.of(e.getKey(), Stats.meanSd(s.stream().mapToDouble(QaEvaluation.Scores::exactMatch).toArray()),
                    Stats.meanSd(s.stream().mapToDouble(QaEvaluation.Scores::f1).toArray()),
                    Stats.meanSd(s.stream().mapToDouble(QaEvaluation.Scores::retrieval).toArray()),
                    String.format(Locale.ROOT, "%.4f", s.stream().mapToDouble(QaEvaluation.Scores::cpuSecondsPerQuestion).average().orElse(Double.NaN))));
        }
        return table;
    }

    public static final List<String> TABLE_HEADER = List.of("pipeline", "EM", "F1", "retrieval accuracy", "CPU-s / question");

    private static DistillJob.Outcome trainStudent(Path teacher, Path data, Path run, Size size, long seed) throws IOException {
        OutputDirectory.fresh(run);
        DistillOptions o = new DistillOptions("seqkd", new ModelOptions(teacher, null, null, size.studentLayers()),
                new DataOptions(data, null, size.seq(), 0.1),
                TrainingConfig.DEFAULTS.withSteps(size.studentSteps(), size.batch(), 2e-3, 2e-4, size.studentSteps() / 20)
                        .withSeed(seed).withEvaluation(Math.max(1, size.studentSteps() / 3), 4, 0),
                LoraOptions.DEFAULTS, KdConfig.DEFAULTS.withAlpha(0), FeatureOptions.DEFAULTS, MetaOptions.defaults(), GkdOptions.DEFAULTS,
                new OutputOptions(run, false, true));
        return DistillJob.run(o);
    }

    private static ObjectNode json(Row r) {
        QaEvaluation.Scores s = r.scores();
        return JSON.createObjectNode().put("seed", r.seed()).put("pipeline", r.pipeline()).put("questions", s.questions())
                .put("exact_match", s.exactMatch()).put("f1", s.f1()).put("retrieval", s.retrieval())
                .put("cpu_s_per_question", s.cpuSecondsPerQuestion());
    }

    private static void writeReport(Summary s, Size size, int seeds) {
        HtmlReport report = new HtmlReport("Retort experiment: Ace-Attorney (synthetic QA + SGP) on the document world");
        report.paragraph(String.format(Locale.ROOT, "%d documents about people who share names, jobs and towns; %d held-out gold "
                + "questions. Teacher: %d layers, dim %d, trained %d steps (%s). Students: its layers %s fine-tuned %d steps with "
                + "seqkd on the triplets it wrote, %d seed(s). SGP: %d BM25 candidates, answer weight %.1f.", size.people(),
                size.goldQuestions(), size.layers(), size.dim(), size.teacherSteps(), s.teacherTraining().summary(), size.studentLayers(),
                size.studentSteps(), seeds, Sgp.Options.DEFAULTS.candidates(), Sgp.Options.DEFAULTS.answerWeight()));
        for (Finding f : findings(s.rows())) report.finding(f.claim(), f.measured(), f.verdict().words);
        report.table("Answers on the gold questions (mean ± sd over seeds)", TABLE_HEADER, table(s.rows()));
        List<List<String>> synth = new ArrayList<>();
        s.synthesis().forEach((seed, sum) -> synth.add(List.of(Long.toString(seed), Long.toString(sum.kept()), sum.rejected().toString())));
        report.table("Synthesis: triplets kept and rejected per filter", List.of("seed", "kept", "rejected"), synth);
        List<List<String>> train = new ArrayList<>();
        train.add(List.of("teacher", s.teacherTraining().summary()));
        s.studentTraining().forEach((k, v) -> train.add(List.of("student " + k, v.summary())));
        report.table("Training cost", List.of("model", "resources"), train);
        Map<String, List<double[]>> retrieval = new LinkedHashMap<>(), em = new LinkedHashMap<>();
        for (Row r : s.rows()) {
            if (!r.pipeline().contains(" w=")) continue;
            String student = r.pipeline().substring(0, r.pipeline().indexOf(" w=")) + " seed " + r.seed();
            double w = Double.parseDouble(r.pipeline().substring(r.pipeline().indexOf(" w=") + 3));
            retrieval.computeIfAbsent(student, k -> new ArrayList<>()).add(new double[] {w, r.scores().retrieval()});
            em.computeIfAbsent(student, k -> new ArrayList<>()).add(new double[] {w, r.scores().exactMatch()});
        }
        report.chart("SGP: retrieval accuracy against the BM25 weight w (w = 1 is BM25's top hit)", "w", "retrieval accuracy", retrieval);
        report.chart("SGP: exact match against the BM25 weight w", "w", "exact match", em);
        report.write(s.report());
    }
}
