package dev.retort.distill.experiment;

import dev.retort.distill.demo.DemoTask;
import dev.retort.distill.experiment.Experiment.Finding;
import dev.retort.distill.experiment.Experiment.Verdict;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.LoraOptions;
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
 * {@code retort experiment lora-vs-full}: the student trained whole ({@code kd}) against LoRA adapters of a frozen
 * student ({@code neo}, LoRA α = 2r) at each rank and learning rate of a grid, all with the same KD loss (forward KL,
 * T = 2, α = 0.9) and steps. Measured per arm: held-out quality, median ms per step, trainable state (F32 weights,
 * gradient and two AdamW moments) and the run's peak resident memory.
 */
public final class LoraVsFullExperiment implements Experiment {
    /** The KD loss every arm uses: the demo's. */
    public static final KdConfig KD = KdConfig.DEFAULTS.withAlpha(0.9);
    public static final String FULL = "full";

    /** The LoRA ranks and peak learning rates crossed; full fine-tuning runs at the size's learning rate. */
    public record Grid(List<Integer> ranks, List<Double> lrs) {
        public static final Grid STANDARD = new Grid(List.of(4, 8, 16, 32, 64), List.of(1e-3, 3e-3, 1e-2));

        public Grid {
            ranks = List.copyOf(ranks);
            lrs = List.copyOf(lrs);
            if (ranks.isEmpty() || lrs.isEmpty()) throw new IllegalArgumentException("lora-vs-full: the grid needs a rank and a learning rate");
        }
    }

    @Override
    public String name() {
        return "lora-vs-full";
    }

    @Override
    public String description() {
        return "Kai et al.; LLM-Neo: LoRA ranks 4 to 64 x learning rates against full fine-tuning of the student: quality, step time, memory";
    }

    @Override
    public Outcome run(Path out, boolean quick, int seeds, PrintStream log) throws IOException {
        return run(out, quick ? DemoStudents.Size.quick() : DemoStudents.Size.standard(), Grid.STANDARD, seeds, log);
    }

    static String arm(int rank, double lr) {
        return String.format(Locale.ROOT, "lora r=%d lr=%.0e", rank, lr);
    }

    public static Outcome run(Path out, DemoStudents.Size size, Grid grid, int seeds, PrintStream log) throws IOException {
        Files.createDirectories(out);
        DemoTask.Files task = DemoTask.prepare(out, size.task(), log);
        List<DemoStudents.Arm> arms = new ArrayList<>();
        Map<String, Map<String, Object>> extra = new LinkedHashMap<>();
        arms.add(DemoStudents.Arm.kd(FULL, KD, size));
        extra.put(FULL, Map.of("method", "kd", "lr", size.lr()));
        for (int r : grid.ranks()) {
            for (double lr : grid.lrs()) {
                arms.add(new DemoStudents.Arm(arm(r, lr), "neo", KD, LoraOptions.DEFAULTS.withRank(r, 2.0 * r), FeatureOptions.DEFAULTS, lr));
                extra.put(arm(r, lr), Map.of("method", "neo", "rank", r, "lr", lr));
            }
        }
        // each student in a JVM of its own, so that the peak RSS column is that arm's alone
        List<DemoStudents.Row> rows = DemoStudents.trainAll(task, size, arms, seeds, out, DemoStudents.Isolation.OWN_JVM, log);
        Path results = DemoStudents.writeResults(out, rows, extra);
        List<List<String>> table = table(rows);
        List<Finding> findings = findings(rows, size, grid);
        Path report = out.resolve("report.html");
        writeReport(report, size, grid, seeds, rows, table, findings);
        return new Outcome(HEADER, table, findings, results, report);
    }

    public static final List<String> HEADER = List.of("arm", "held-out perplexity", "top-1 agreement", "KL(teacher‖student)",
            "ms / step", "trainable state MB", "peak RSS MB");

    static List<List<String>> table(List<DemoStudents.Row> rows) {
        List<List<String>> table = new ArrayList<>();
        for (String arm : DemoStudents.arms(rows)) {
            List<String> cells = DemoStudents.qualityCells(rows, arm);
            cells.add(String.format(Locale.ROOT, "%.0f", Stats.mean(DemoStudents.values(rows, arm, DemoStudents.Scores::msPerStep))));
            cells.add(String.format(Locale.ROOT, "%.2f", Stats.mean(DemoStudents.values(rows, arm, DemoStudents.Scores::trainableStateBytes)) / 1e6));
            cells.add(String.format(Locale.ROOT, "%.0f", Stats.mean(DemoStudents.values(rows, arm, DemoStudents.Scores::peakRssBytes)) / 1e6));
            table.add(cells);
        }
        return table;
    }

    /**
     * Four claims, by {@link Stats#beats} over seeds unless said otherwise: LoRA (at the middle rank of the grid and the
     * size's learning rate) takes less time per step and less peak memory than full fine-tuning; full fine-tuning
     * reaches a lower held-out perplexity than the best LoRA arm at equal steps; LLM-Neo's "a larger rank helps"
     * (highest against lowest rank, each at its best learning rate); and LLM-Neo's "a lower learning rate at a high
     * rank": at the highest rank, the best rate below the one the lowest rank prefers against that rate
     * (inconclusive when the grid has no lower rate).
     */
    static List<Finding> findings(List<DemoStudents.Row> rows, DemoStudents.Size size, Grid grid) {
        List<Finding> findings = new ArrayList<>();
        int low = grid.ranks().getFirst(), high = grid.ranks().getLast(), middle = grid.ranks().get(grid.ranks().size() / 2);
        double lr = grid.lrs().contains(size.lr()) ? size.lr() : grid.lrs().getFirst();
        String mid = arm(middle, lr);
        double[] fullMs = values(rows, FULL, DemoStudents.Scores::msPerStep), loraMs = values(rows, mid, DemoStudents.Scores::msPerStep);
        double[] fullRss = values(rows, FULL, DemoStudents.Scores::peakRssBytes), loraRss = values(rows, mid, DemoStudents.Scores::peakRssBytes);
        findings.add(new Finding("Training LoRA adapters instead of the whole student saves step time and memory.",
                String.format(Locale.ROOT, "r = %d: %s ms per step and peak RSS %s MB, trainable state %.2f MB; full: %s ms and %s MB, "
                        + "trainable state %.2f MB", middle, Stats.meanSd(loraMs), Stats.meanSd(scale(loraRss)),
                        Stats.mean(values(rows, mid, DemoStudents.Scores::trainableStateBytes)) / 1e6, Stats.meanSd(fullMs),
                        Stats.meanSd(scale(fullRss)), Stats.mean(values(rows, FULL, DemoStudents.Scores::trainableStateBytes)) / 1e6),
                both(Stats.beatsLower(loraMs, fullMs), Stats.beatsLower(loraRss, fullRss))));

        String bestLora = best(rows, grid.ranks(), grid.lrs());
        findings.add(new Finding("At equal steps, fine-tuning the whole student reaches better quality than LoRA.",
                String.format(Locale.ROOT, "held-out perplexity %s in full against %s with the best LoRA arm (%s)",
                        Stats.meanSd(ppl(rows, FULL)), Stats.meanSd(ppl(rows, bestLora)), bestLora),
                Stats.beatsLower(ppl(rows, FULL), ppl(rows, bestLora))));

        String bestHigh = best(rows, List.of(high), grid.lrs()), bestLow = best(rows, List.of(low), grid.lrs());
        findings.add(new Finding("LLM-Neo: a larger LoRA rank distils a better student.",
                String.format(Locale.ROOT, "held-out perplexity %s at r = %d against %s at r = %d, each at its best learning rate (%s; %s)",
                        Stats.meanSd(ppl(rows, bestHigh)), high, Stats.meanSd(ppl(rows, bestLow)), low, bestHigh, bestLow),
                Stats.beatsLower(ppl(rows, bestHigh), ppl(rows, bestLow))));

        double lowRate = rate(bestLow, grid);
        List<Double> lower = grid.lrs().stream().filter(x -> x < lowRate).toList();
        if (lower.isEmpty()) {
            findings.add(new Finding(NEO_LR, String.format(Locale.ROOT, "r = %d does best at the grid's lowest rate, %.0e, so no lower rate "
                    + "was tried", low, lowRate), Verdict.INCONCLUSIVE));
        } else {
            String bestLower = best(rows, List.of(high), lower), same = arm(high, lowRate);
            findings.add(new Finding(NEO_LR, String.format(Locale.ROOT, "r = %d does best at lr %.0e; at r = %d, held-out perplexity %s at "
                    + "lr %.0e against %s at %.0e", low, lowRate, high, Stats.meanSd(ppl(rows, bestLower)), rate(bestLower, grid),
                    Stats.meanSd(ppl(rows, same)), lowRate), Stats.beatsLower(ppl(rows, bestLower), ppl(rows, same))));
        }
        return findings;
    }

    private static final String NEO_LR = "LLM-Neo: a high LoRA rank wants a lower learning rate than a low rank does.";

    /** Holds when both hold, does not hold when either does not, else inconclusive. */
    private static Verdict both(Verdict a, Verdict b) {
        if (a == Verdict.DOES_NOT_HOLD || b == Verdict.DOES_NOT_HOLD) return Verdict.DOES_NOT_HOLD;
        return a == Verdict.HOLDS && b == Verdict.HOLDS ? Verdict.HOLDS : Verdict.INCONCLUSIVE;
    }

    /** The LoRA arm among these ranks and rates with the lowest mean held-out perplexity. */
    private static String best(List<DemoStudents.Row> rows, List<Integer> ranks, List<Double> lrs) {
        String best = null;
        for (int r : ranks) {
            for (double lr : lrs) {
                double[] p = ppl(rows, arm(r, lr));
                if (p.length > 0 && (best == null || Stats.mean(p) < Stats.mean(ppl(rows, best)))) best = arm(r, lr);
            }
        }
        return best;
    }

    private static double rate(String arm, Grid grid) {
        for (double lr : grid.lrs()) if (arm.endsWith(String.format(Locale.ROOT, "lr=%.0e", lr))) return lr;
        throw new IllegalStateException("no learning rate in arm " + arm);
    }

    private static double[] ppl(List<DemoStudents.Row> rows, String arm) {
        return values(rows, arm, DemoStudents.Scores::perplexity);
    }

    private static double[] values(List<DemoStudents.Row> rows, String arm, java.util.function.ToDoubleFunction<DemoStudents.Scores> f) {
        return DemoStudents.values(rows, arm, f);
    }

    private static double[] scale(double[] bytes) {
        double[] mb = new double[bytes.length];
        for (int i = 0; i < bytes.length; i++) mb[i] = bytes[i] / 1e6;
        return mb;
    }

    private static void writeReport(Path file, DemoStudents.Size size, Grid grid, int seeds, List<DemoStudents.Row> rows,
                                    List<List<String>> table, List<Finding> findings) {
        HtmlReport report = new HtmlReport("Retort experiment: LoRA ranks against full fine-tuning of the student");
        report.paragraph(String.format(Locale.ROOT, "Demo task: a %d-layer teacher (dim %d, %d steps on %d paragraphs); students of its "
                + "layers %s trained %d steps (batch %d) on %d transfer paragraphs with (1 − α)·CE + α·T²·KL, α = 0.9, T = 2: whole "
                + "(kd, peak lr %.0e) or as LoRA adapters on all seven projections (neo, LoRA α = 2r) at ranks %s and peak learning "
                + "rates %s; %d seed(s). Trainable state is the memory plan's 16 bytes per trainable parameter; each student "
                + "is `retort distill` in a JVM of its own, and its peak RSS is that process's high-water mark: the JVM, the "
                + "memory-mapped teacher and the student's training.",
                size.task().layers(), size.task().dim(), size.task().teacherSteps(), size.task().paragraphs(), size.studentLayers(),
                size.steps(), size.batch(), size.task().transferParagraphs(), size.lr(), grid.ranks(), grid.lrs(), seeds));
        for (Finding f : findings) report.finding(f.claim(), f.measured(), f.verdict().words);
        report.table("Students (mean ± sd over seeds; time and memory are means)", HEADER, table);
        Map<String, Map<String, Double>> byLr = new LinkedHashMap<>();
        for (double lr : grid.lrs()) {
            Map<String, Double> byRank = new LinkedHashMap<>();
            for (int r : grid.ranks()) byRank.put(arm(r, lr), (double) r);
            byLr.put(String.format(Locale.ROOT, "LoRA lr %.0e", lr), byRank);
        }
        Map<String, List<double[]>> quality = DemoStudents.meanSeries(rows, byLr, DemoStudents.Scores::perplexity);
        double full = Stats.mean(ppl(rows, FULL));
        quality.put("full fine-tuning", List.of(new double[] {grid.ranks().getFirst(), full}, new double[] {grid.ranks().getLast(), full}));
        report.chart("Held-out perplexity against the LoRA rank, one line per learning rate", "LoRA rank", "perplexity", quality);
        Map<String, List<double[]>> time = DemoStudents.meanSeries(rows, byLr, DemoStudents.Scores::msPerStep);
        double fullMs = Stats.mean(values(rows, FULL, DemoStudents.Scores::msPerStep));
        time.put("full fine-tuning", List.of(new double[] {grid.ranks().getFirst(), fullMs}, new double[] {grid.ranks().getLast(), fullMs}));
        report.chart("Median ms per training step against the LoRA rank", "LoRA rank", "ms / step", time);
        report.write(file);
    }
}
