package dev.retort.distill.experiment;

import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.experiment.Experiment.Finding;
import dev.retort.distill.experiment.Experiment.Verdict;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.loss.LayerMap;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.report.HtmlReport;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code retort experiment feature-layers}: which teacher layer is the best feature target for a given student layer.
 * Every cell of the student-layer × teacher-layer grid trains one student whole ({@code kd}: forward KL, T = 2,
 * α = 0.9) with feature KD (mean squared error, weight 1) from that one student layer's output to that one teacher
 * layer's; one more student has logit KD alone. Held-out quality of each.
 */
public final class FeatureLayersExperiment implements Experiment {
    public static final KdConfig KD = KdConfig.DEFAULTS.withAlpha(0.9);
    public static final String LOGITS_ONLY = "logits only";
    public static final double FEATURE_WEIGHT = 1.0;

    @Override
    public String name() {
        return "feature-layers";
    }

    @Override
    public String description() {
        return "Kai, Zhu, Gong: which teacher layer is the best feature target for each student layer (a grid of held-out quality)";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        return run(out, quick ? DemoStudents.Size.quick() : DemoStudents.Size.standard(), seeds, log);
    }

    static String arm(int student, int teacher) {
        return "student " + student + " ← teacher " + teacher;
    }

    /** The teacher layer at the same relative depth as student layer {@code s}: the last of its share of the teacher's layers. */
    public static int proportional(int s, int studentLayers, int teacherLayers) {
        return (int) Math.round((s + 1) * (double) teacherLayers / studentLayers) - 1;
    }

    public static Outcome run(Path out, DemoStudents.Size size, int seeds, PrintStream log) throws IOException {
        Files.createDirectories(out);
        DemoTask.Files task = DemoTask.prepare(out, size.task(), log);
        List<DemoStudents.Arm> arms = new ArrayList<>();
        Map<String, Map<String, Object>> extra = new LinkedHashMap<>();
        arms.add(DemoStudents.Arm.kd(LOGITS_ONLY, KD, size));
        for (int s = 0; s < size.studentDepth(); s++) {
            for (int t = 0; t < size.task().layers(); t++) {
                FeatureOptions f = new FeatureOptions(LayerMap.parse(s + ":" + t), false, FEATURE_WEIGHT);
                arms.add(DemoStudents.Arm.kd(arm(s, t), KD, size).withFeatures(f));
                extra.put(arm(s, t), Map.of("student_layer", s, "teacher_layer", t));
            }
        }
        List<DemoStudents.Row> rows = DemoStudents.trainAll(task, size, arms, seeds, out, log);
        Path results = DemoStudents.writeResults(out, rows, extra);
        List<List<String>> table = DemoStudents.qualityTable(rows);
        List<Finding> findings = findings(rows, size.studentDepth(), size.task().layers());
        Path report = out.resolve("report.html");
        writeReport(report, size, seeds, rows, table, findings);
        return new Outcome(DemoStudents.QUALITY_HEADER, table, findings, results, report);
    }

    /**
     * Two claims by {@link Stats#beats} on held-out perplexity: the teacher layer at the same relative depth
     * ({@link #proportional}) is the best target — for every student layer it beats the best other teacher layer
     * (holds when it does for every student layer, does not hold when another layer wins clearly for any); and
     * feature KD on top of logit KD helps — the best cell against logits alone.
     */
    static List<Finding> findings(List<DemoStudents.Row> rows, int studentLayers, int teacherLayers) {
        List<Finding> findings = new ArrayList<>();
        List<String> measured = new ArrayList<>();
        Verdict all = Verdict.HOLDS;
        String bestCell = null;
        for (int s = 0; s < studentLayers; s++) {
            int p = proportional(s, studentLayers, teacherLayers);
            int bestOther = -1;
            for (int t = 0; t < teacherLayers; t++) {
                String a = arm(s, t);
                if (ppl(rows, a).length == 0) continue;
                if (bestCell == null || Stats.mean(ppl(rows, a)) < Stats.mean(ppl(rows, bestCell))) bestCell = a;
                if (t != p && (bestOther < 0 || Stats.mean(ppl(rows, a)) < Stats.mean(ppl(rows, arm(s, bestOther))))) bestOther = t;
            }
            if (bestOther < 0 || ppl(rows, arm(s, p)).length == 0) return findings;
            Verdict v = Stats.beatsLower(ppl(rows, arm(s, p)), ppl(rows, arm(s, bestOther)));
            all = v == Verdict.DOES_NOT_HOLD || all == Verdict.DOES_NOT_HOLD ? Verdict.DOES_NOT_HOLD
                    : v == Verdict.INCONCLUSIVE || all == Verdict.INCONCLUSIVE ? Verdict.INCONCLUSIVE : Verdict.HOLDS;
            measured.add(String.format(Locale.ROOT, "student layer %d: perplexity %s with teacher layer %d (same relative depth) against %s "
                    + "with teacher layer %d (the best other)", s, Stats.meanSd(ppl(rows, arm(s, p))), p, Stats.meanSd(ppl(rows, arm(s, bestOther))), bestOther));
        }
        findings.add(new Finding("The best feature target for a student layer is the teacher layer at the same relative depth.",
                String.join("; ", measured), all));
        double[] base = ppl(rows, LOGITS_ONLY);
        if (base.length > 0) {
            findings.add(new Finding("Matching a hidden layer of the teacher on top of its logits distils a better student than the logits alone.",
                    String.format(Locale.ROOT, "held-out perplexity %s with the best cell (%s) against %s with logits alone, over %d seed(s)",
                            Stats.meanSd(ppl(rows, bestCell)), bestCell, Stats.meanSd(base), base.length), Stats.beatsLower(ppl(rows, bestCell), base)));
        }
        return findings;
    }

    private static double[] ppl(List<DemoStudents.Row> rows, String arm) {
        return DemoStudents.values(rows, arm, DemoStudents.Scores::perplexity);
    }

    private static void writeReport(Path file, DemoStudents.Size size, int seeds, List<DemoStudents.Row> rows, List<List<String>> table,
                                    List<Finding> findings) {
        int studentLayers = size.studentDepth(), teacherLayers = size.task().layers();
        HtmlReport report = new HtmlReport("Retort experiment: which teacher layer to distil each student layer towards");
        report.paragraph(String.format(Locale.ROOT, "Demo task: a %d-layer teacher (dim %d, %d steps on %d paragraphs); students made of "
                + "its layers %s (so student layer i starts as a copy of teacher layer %s), every weight trained %d steps (batch %d, "
                + "peak lr %.0e) on %d transfer paragraphs with (1 − α)·CE + α·T²·KL, α = 0.9, T = 2, plus %.1f × the mean squared "
                + "error between one student layer's output and one teacher layer's; %d seed(s).", teacherLayers, size.task().dim(),
                size.task().teacherSteps(), size.task().paragraphs(), size.studentLayers(), size.studentLayers(), size.steps(), size.batch(),
                size.lr(), size.task().transferParagraphs(), FEATURE_WEIGHT, seeds));
        for (Finding f : findings) report.finding(f.claim(), f.measured(), f.verdict().words);
        List<String> header = new ArrayList<>(List.of("student layer"));
        for (int t = 0; t < teacherLayers; t++) header.add("teacher layer " + t);
        List<List<String>> grid = new ArrayList<>();
        for (int s = 0; s < studentLayers; s++) {
            List<String> line = new ArrayList<>(List.of(Integer.toString(s)));
            for (int t = 0; t < teacherLayers; t++) line.add(Stats.meanSd(ppl(rows, arm(s, t))));
            grid.add(line);
        }
        report.table("Held-out perplexity by student layer (rows) and teacher target layer (columns), mean ± sd; logits alone: "
                + Stats.meanSd(ppl(rows, LOGITS_ONLY)), header, grid);
        report.table("Every student (mean ± sd over seeds)", DemoStudents.QUALITY_HEADER, table);
        Map<String, Map<String, Double>> byStudent = new LinkedHashMap<>();
        for (int s = 0; s < studentLayers; s++) {
            Map<String, Double> byTeacher = new LinkedHashMap<>();
            for (int t = 0; t < teacherLayers; t++) byTeacher.put(arm(s, t), (double) t);
            byStudent.put("student layer " + s, byTeacher);
        }
        Map<String, List<double[]>> series = DemoStudents.meanSeries(rows, byStudent, DemoStudents.Scores::perplexity);
        double base = Stats.mean(ppl(rows, LOGITS_ONLY));
        series.put(LOGITS_ONLY, List.of(new double[] {0, base}, new double[] {teacherLayers - 1, base}));
        report.chart("Held-out perplexity against the teacher layer targeted, one line per student layer", "teacher layer", "perplexity", series);
        report.write(file);
    }
}
