package dev.retort.distill.experiment;

import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.experiment.Experiment.Finding;
import dev.retort.distill.experiment.Experiment.Verdict;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.report.HtmlReport;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code retort experiment temperature}: the KD temperature swept from 1 to 8 on the demo task. One student per T,
 * every weight trained with {@code kd} — (1 − α)·CE + α·T²·KL(p_T ‖ q_T), forward KL, α = 0.9 — for the same steps
 * from the same start; held-out perplexity, top-1 agreement and KL to the teacher (all at T = 1) against T.
 */
public final class TemperatureExperiment implements Experiment {
    public static final List<Integer> TEMPERATURES = List.of(1, 2, 3, 4, 5, 6, 7, 8);
    public static final double ALPHA = 0.9;

    @Override
    public String name() {
        return "temperature";
    }

    @Override
    public String description() {
        return "Kai, Zhu, Gong: the KD temperature T = 1..8 against held-out perplexity and top-1 agreement on the demo task";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        return run(out, quick ? DemoStudents.Size.quick() : DemoStudents.Size.standard(), seeds, log);
    }

    static String arm(int t) {
        return "T=" + t;
    }

    public static Outcome run(Path out, DemoStudents.Size size, int seeds, PrintStream log) throws IOException {
        Files.createDirectories(out);
        DemoTask.Files task = DemoTask.prepare(out, size.task(), log);
        List<DemoStudents.Arm> arms = TEMPERATURES.stream()
                .map(t -> DemoStudents.Arm.kd(arm(t), KdConfig.DEFAULTS.withTemperature(t).withAlpha(ALPHA), size)).toList();
        List<DemoStudents.Row> rows = DemoStudents.trainAll(task, size, arms, seeds, out, log);
        Map<String, Map<String, Object>> extra = new LinkedHashMap<>();
        for (int t : TEMPERATURES) extra.put(arm(t), Map.of("temperature", t, "alpha", ALPHA, "divergence", "fkl"));
        Path results = DemoStudents.writeResults(out, rows, extra);
        List<List<String>> table = DemoStudents.qualityTable(rows);
        List<Finding> findings = findings(rows);
        Path report = out.resolve("report.html");
        writeReport(report, size, seeds, rows, table, findings);
        return new Outcome(DemoStudents.QUALITY_HEADER, table, findings, results, report);
    }

    /**
     * Two claims, each by {@link Stats#beats} on held-out perplexity: a temperature above 1 distils a better student than
     * T = 1 (the best T above 1 against T = 1); and too high a temperature washes the targets out (the best T
     * against T = 8; when 8 is itself the best, the claim does not hold).
     */
    static List<Finding> findings(List<DemoStudents.Row> rows) {
        List<Finding> findings = new ArrayList<>();
        Comparator<Integer> byPerplexity = Comparator.comparingDouble(t -> Stats.mean(perplexity(rows, t)));
        List<Integer> measured = TEMPERATURES.stream().filter(t -> perplexity(rows, t).length > 0).toList();
        if (!measured.contains(1) || measured.size() < 2) return findings;
        int bestAbove1 = measured.stream().filter(t -> t > 1).min(byPerplexity).orElseThrow();
        findings.add(new Finding("Softening the teacher's targets with a temperature above 1 distils a better student than T = 1.",
                String.format(Locale.ROOT, "held-out perplexity %s at the best T above 1 (T = %d) against %s at T = 1, over %d seed(s)",
                        Stats.meanSd(perplexity(rows, bestAbove1)), bestAbove1, Stats.meanSd(perplexity(rows, 1)), perplexity(rows, 1).length),
                Stats.beatsLower(perplexity(rows, bestAbove1), perplexity(rows, 1))));
        int best = measured.stream().min(byPerplexity).orElseThrow(), highest = measured.getLast();
        findings.add(new Finding("Too high a temperature washes the teacher's targets out: past the best T, the student gets worse again.",
                String.format(Locale.ROOT, "held-out perplexity %s at the best T (T = %d) against %s at T = %d", Stats.meanSd(perplexity(rows, best)),
                        best, Stats.meanSd(perplexity(rows, highest)), highest),
                best == highest ? Verdict.DOES_NOT_HOLD : Stats.beatsLower(perplexity(rows, best), perplexity(rows, highest))));
        return findings;
    }

    private static double[] perplexity(List<DemoStudents.Row> rows, int t) {
        return DemoStudents.values(rows, arm(t), DemoStudents.Scores::perplexity);
    }

    private static void writeReport(Path file, DemoStudents.Size size, int seeds, List<DemoStudents.Row> rows, List<List<String>> table,
                                    List<Finding> findings) {
        HtmlReport report = new HtmlReport("Retort experiment: the KD temperature");
        report.paragraph(String.format(Locale.ROOT, "Demo task: a %d-layer teacher (dim %d, %d steps on %d paragraphs); students of its "
                + "layers %s, every weight trained %d steps (batch %d, peak lr %.0e) on %d transfer paragraphs with (1 − α)·CE + "
                + "α·T²·KL(p_T ‖ q_T), α = %.1f, for each T; %d seed(s). Evaluation is at T = 1.", size.task().layers(), size.task().dim(),
                size.task().teacherSteps(), size.task().paragraphs(), size.studentLayers(), size.steps(), size.batch(), size.lr(),
                size.task().transferParagraphs(), ALPHA, seeds));
        for (Finding f : findings) report.finding(f.claim(), f.measured(), f.verdict().words);
        report.table("Students by temperature (mean ± sd over seeds)", DemoStudents.QUALITY_HEADER, table);
        Map<String, Double> byT = new LinkedHashMap<>();
        for (int t : TEMPERATURES) byT.put(arm(t), (double) t);
        report.chart("Held-out perplexity against the temperature", "T", "perplexity",
                DemoStudents.meanSeries(rows, Map.of("student", byT), DemoStudents.Scores::perplexity));
        report.chart("Top-1 agreement with the teacher against the temperature", "T", "agreement",
                DemoStudents.meanSeries(rows, Map.of("student", byT), DemoStudents.Scores::agreement));
        report.write(file);
    }
}
