package dev.retort.distill.experiment;

import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.experiment.Experiment.Finding;
import dev.retort.distill.experiment.Experiment.Verdict;
import dev.retort.distill.loss.BimodalToy;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
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
import java.util.function.ToDoubleFunction;

/**
 * {@code retort experiment divergences}: the KD divergences side by side.
 * <ol>
 *   <li>on the demo task, one student per divergence — FKL, RKL, JSD(β = 0.5), skew KL and skew RKL (DistiLLM's
 *       α = 0.1), TVD — each trained with pure distillation (α = 1, T = 1) for the same steps from the same start;
 *       held-out perplexity, top-1 agreement and KL to the teacher;
 *   <li>the {@link BimodalToy}: a single-peaked student fitted to a two-mode teacher with each divergence, drawn
 *       as a picture of the target and the fitted distributions.
 * </ol>
 */
public final class DivergencesExperiment implements Experiment {
    /** The arms, in the table's order. */
    public static final List<Divergence> DIVERGENCES = List.of(Divergence.FKL, Divergence.RKL, Divergence.JSD, Divergence.SKL,
            Divergence.SRKL, Divergence.TVD);
    public static final List<String> HEADER = List.of("divergence", "held-out perplexity", "top-1 agreement", "KL(teacher‖student)",
            "toy μ", "toy σ", "toy mass near 35", "toy mass near 65");

    @Override
    public String name() {
        return "divergences";
    }

    @Override
    public String description() {
        return "FKL, RKL, JSD, skew KL/RKL and TVD at equal budget on the demo task, and the two-mode toy (mode covering vs seeking)";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        return run(out, quick ? DemoStudents.Size.quick() : DemoStudents.Size.standard(), seeds, log);
    }

    /** The loss of a divergence's arm: its usual β (0.5 for JSD, 0.1 for the skews), T = 1, pure distillation. */
    public static KdConfig config(Divergence d) {
        return KdConfig.defaults(d).withAlpha(1);
    }

    public static Outcome run(Path out, DemoStudents.Size size, int seeds, PrintStream log) throws IOException {
        Files.createDirectories(out);
        Map<String, BimodalToy.Fit> toy = new LinkedHashMap<>();
        for (Divergence d : DIVERGENCES) toy.put(d.cliName(), BimodalToy.fit(config(d)));
        toy.forEach((d, fit) -> log.printf(Locale.ROOT, "toy, %s: %s%n", d, fit));

        DemoTask.Files task = DemoTask.prepare(out, size.task(), log);
        List<DemoStudents.Arm> arms = DIVERGENCES.stream().map(d -> DemoStudents.Arm.kd(d.cliName(), config(d), size)).toList();
        List<DemoStudents.Row> rows = DemoStudents.trainAll(task, size, arms, seeds, out, log);

        Map<String, Map<String, Object>> extra = new LinkedHashMap<>();
        for (Divergence d : DIVERGENCES) {
            BimodalToy.Fit f = toy.get(d.cliName());
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("beta", config(d).beta());
            e.put("toy_mu", f.mu());
            e.put("toy_sigma", f.sigma());
            e.put("toy_mass_a", f.massNear(BimodalToy.MODE_A));
            e.put("toy_mass_b", f.massNear(BimodalToy.MODE_B));
            extra.put(d.cliName(), e);
        }
        Path results = DemoStudents.writeResults(out, rows, extra);
        List<List<String>> table = table(rows, toy);
        List<Finding> findings = findings(rows, toy);
        Path report = out.resolve("report.html");
        writeReport(report, size, seeds, table, findings, toy);
        return new Outcome(HEADER, table, findings, results, report);
    }

    static List<List<String>> table(List<DemoStudents.Row> rows, Map<String, BimodalToy.Fit> toy) {
        List<List<String>> table = new ArrayList<>();
        for (String arm : DemoStudents.arms(rows)) {
            List<String> cells = DemoStudents.qualityCells(rows, arm);
            BimodalToy.Fit f = toy.get(arm);
            cells.addAll(List.of(String.format(Locale.ROOT, "%.2f", f.mu()), String.format(Locale.ROOT, "%.2f", f.sigma()),
                    String.format(Locale.ROOT, "%.3f", f.massNear(BimodalToy.MODE_A)), String.format(Locale.ROOT, "%.3f", f.massNear(BimodalToy.MODE_B))));
            table.add(cells);
        }
        return table;
    }

    /**
     * Three claims: the toy's (forward KL covers both modes — at least 0.1 of the student's mass near each — while
     * reverse KL seeks one — over half near one, under 0.01 near the other); DistiLLM's (skew KL gives a better
     * student than FKL: lower held-out perplexity); MiniLLM's (the mode-seeking RKL student agrees with the
     * teacher's top-1 more often than the FKL one). The last two by {@link Stats#beats}.
     */
    static List<Finding> findings(List<DemoStudents.Row> rows, Map<String, BimodalToy.Fit> toy) {
        List<Finding> findings = new ArrayList<>();
        BimodalToy.Fit fkl = toy.get("fkl"), rkl = toy.get("rkl");
        double fa = fkl.massNear(BimodalToy.MODE_A), fb = fkl.massNear(BimodalToy.MODE_B);
        double ra = rkl.massNear(BimodalToy.MODE_A), rb = rkl.massNear(BimodalToy.MODE_B);
        boolean covers = fa >= 0.1 && fb >= 0.1, seeks = Math.max(ra, rb) > 0.5 && Math.min(ra, rb) < 0.01;
        findings.add(new Finding("Forward KL is mode-covering and reverse KL mode-seeking: fitted to a two-mode teacher, a single-peaked "
                + "student spreads over both modes under FKL and settles on one under RKL.", String.format(Locale.ROOT,
                "FKL student mass %.3f near the first mode and %.3f near the second (μ = %.1f, σ = %.1f); RKL student %.3f and %.3f "
                + "(μ = %.1f, σ = %.1f)", fa, fb, fkl.mu(), fkl.sigma(), ra, rb, rkl.mu(), rkl.sigma()),
                covers && seeks ? Verdict.HOLDS : Verdict.DOES_NOT_HOLD));
        compare(findings, rows, "skl", "fkl", "perplexity", DemoStudents.Scores::perplexity, false, "Skew KL (DistiLLM, Ko et al. 2024) distils a better student than "
                + "forward KL: lower held-out perplexity at the same budget.");
        compare(findings, rows, "rkl", "fkl", "top-1 agreement", DemoStudents.Scores::agreement, true, "Reverse KL (MiniLLM, Gu et al. 2024) makes the student follow the "
                + "teacher's main mode: it agrees with the teacher's top-1 token more often than a forward-KL student.");
        return findings;
    }

    private static void compare(List<Finding> findings, List<DemoStudents.Row> rows, String a, String b, String score,
                                ToDoubleFunction<DemoStudents.Scores> f, boolean higherIsBetter, String claim) {
        double[] x = DemoStudents.values(rows, a, f), y = DemoStudents.values(rows, b, f);
        if (x.length == 0 || y.length == 0) return;
        findings.add(new Finding(claim, String.format(Locale.ROOT, "held-out %s %s with %s against %s with %s, over %d seed(s)", score,
                Stats.meanSd(x), a, Stats.meanSd(y), b, x.length), higherIsBetter ? Stats.beats(x, y) : Stats.beatsLower(x, y)));
    }

    private static void writeReport(Path file, DemoStudents.Size size, int seeds, List<List<String>> table, List<Finding> findings,
                                    Map<String, BimodalToy.Fit> toy) {
        HtmlReport report = new HtmlReport("Retort experiment: KD divergences at equal budget, and mode covering vs mode seeking");
        report.paragraph(String.format(Locale.ROOT, "Demo task: a %d-layer teacher (dim %d, %d steps on %d paragraphs); students of its "
                + "layers %s, every weight trained %d steps (batch %d, peak lr %.0e) on %d transfer paragraphs with pure distillation "
                + "(α = 1, T = 1) under each divergence; %d seed(s). Toy: a single Gaussian-shaped student over %d tokens fitted "
                + "(Adam, 600 steps) to a teacher with modes at %.0f and %.0f.", size.task().layers(), size.task().dim(),
                size.task().teacherSteps(), size.task().paragraphs(), size.studentLayers(), size.steps(), size.batch(), size.lr(),
                size.task().transferParagraphs(), seeds, BimodalToy.V, BimodalToy.MODE_A, BimodalToy.MODE_B));
        for (Finding f : findings) report.finding(f.claim(), f.measured(), f.verdict().words);
        report.table("Students on the demo task (mean ± sd over seeds) and the toy's fits", HEADER, table);
        double[] p = BimodalToy.teacher();
        Map<String, List<double[]>> klPair = new LinkedHashMap<>(), others = new LinkedHashMap<>();
        klPair.put("teacher", points(p));
        others.put("teacher", points(p));
        toy.forEach((d, fit) -> (d.equals("fkl") || d.equals("rkl") ? klPair : others).put(d, points(fit.q())));
        report.chart("Toy: the two-mode teacher and the students fitted with forward and reverse KL", "token", "probability", klPair);
        report.chart("Toy: the same teacher and the students fitted with the other divergences", "token", "probability", others);
        report.write(file);
    }

    private static List<double[]> points(double[] q) {
        List<double[]> points = new ArrayList<>();
        for (int j = 0; j < q.length; j++) points.add(new double[] {j, q[j]});
        return points;
    }
}
