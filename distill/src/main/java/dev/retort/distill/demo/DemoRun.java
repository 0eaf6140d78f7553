package dev.retort.distill.demo;

import dev.retort.distill.OutputDirectory;
import dev.retort.distill.DistillJob;
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
import dev.retort.distill.train.MetricsLog;
import dev.retort.distill.train.TrainingConfig;
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
 * {@code retort demo}: distillation end to end on data the project makes itself.
 * <ol>
 *   <li>generate a structured corpus ({@link DemoCorpus}) and train a BPE tokenizer on it ({@link DemoTask});
 *   <li>train a 4-layer teacher from scratch on it (cross-entropy; {@link DemoTask});
 *   <li>make a 2-layer student from the teacher's layers 0 and 2 and give it LoRA adapters, then train it twice
 *       for the same number of steps on a small transfer set (a few hundred paragraphs, as when one distils on
 *       the little in-domain data at hand): with {@code neo} ((1−α)·CE + α·T²·KL from the teacher) and with
 *       {@code sft} (cross-entropy only). The teacher's soft targets carry what it learned from the whole
 *       corpus; cross-entropy sees only the transfer set's tokens;
 *   <li>compare held-out perplexity and top-1 agreement with the teacher, and write one HTML report.
 * </ol>
 */
public final class DemoRun {
    /** Sizes of the run; {@link #standard()} is what {@code retort demo} runs, tests use a smaller one. */
    public record Size(int paragraphs, int transferParagraphs, int vocab, int dim, int layers, int heads, int kvHeads,
                       int hidden, int seq, int batch, int teacherSteps, int studentSteps, String studentLayers, int loraRank,
                       double alpha, long seed) {
        /** The task's part of the sizes: corpus, tokenizer and teacher. */
        public DemoTask.Size task() {
            return new DemoTask.Size(paragraphs, transferParagraphs, vocab, dim, layers, heads, kvHeads, hidden, seq, batch, teacherSteps, seed);
        }

        public static Size standard() {
            return new Size(6000, 250, 512, 128, 4, 4, 2, 384, 64, 16, 400, 150, "0,2", 16, 0.9, 1);
        }
    }

    /** One row of the comparison. */
    public record Row(String model, double perplexity, double agreement, double kl) {}

    public record Summary(List<Row> rows, Path report) {}

    private DemoRun() {}

    public static Summary run(Path work, Size size, PrintStream log) throws IOException {
        Files.createDirectories(work);
        for (String previous : List.of("student-neo", "student-sft")) {
            OutputDirectory.fresh(work.resolve(previous));   // outputs of an earlier demo in the same place
        }
        long started = System.nanoTime();

        // 1-2. data, tokenizer and the teacher, trained from scratch
        DemoTask.Files task = DemoTask.prepare(work, size.task(), log);
        Path teacherDir = task.teacher(), transfer = task.transfer(), heldOutFile = task.heldOut();

        // 3. the same student trained two ways for the same budget
        Map<String, DistillJob.Outcome> outcomes = new LinkedHashMap<>();
        for (String method : List.of("neo", "sft")) {
            log.printf(Locale.ROOT, "training the student with %s: layers %s of the teacher + LoRA r=%d, %d steps%n",
                    method, size.studentLayers(), size.loraRank(), size.studentSteps());
            DistillOptions o = new DistillOptions(method, new ModelOptions(teacherDir, null, null, size.studentLayers()),
                    DataOptions.DEFAULTS.withFiles(transfer, heldOutFile).withSeqLen(size.seq()),
                    TrainingConfig.DEFAULTS.withSteps(size.studentSteps(), size.batch(), 3e-3, 3e-4, size.studentSteps() / 20)
                            .withSeed(size.seed()).withEvaluation(Math.max(1, size.studentSteps() / 10), 8, 0),
                    LoraOptions.DEFAULTS.withRank(size.loraRank(), 2.0 * size.loraRank()), KdConfig.DEFAULTS.withAlpha(size.alpha()),
                    FeatureOptions.DEFAULTS, MetaOptions.defaults(), GkdOptions.DEFAULTS, new OutputOptions(work.resolve("student-" + method), false, true));
            outcomes.put(method, DistillJob.run(o));
        }

        // 4. compare
        List<Row> rows = new ArrayList<>();
        Evaluator.Result t = outcomes.get("neo").teacherEval();
        rows.add(new Row("teacher (" + size.layers() + " layers)", t.perplexity(), 1.0, 0.0));
        for (Map.Entry<String, DistillJob.Outcome> e : outcomes.entrySet()) {
            Evaluator.Result r = e.getValue().training().finalEval();
            rows.add(new Row("student, " + e.getKey() + " (" + size.studentLayers().split(",").length + " layers + LoRA)",
                    r.perplexity(), r.agreement(), r.kl()));
        }
        Path report = writeReport(work, size, rows, outcomes, (System.nanoTime() - started) / 1e9);
        return new Summary(rows, report);
    }

    private static Path writeReport(Path work, Size size, List<Row> rows, Map<String, DistillJob.Outcome> outcomes, double seconds) {
        HtmlReport report = new HtmlReport("Retort demo: LLM-Neo distillation vs supervised fine-tuning");
        report.paragraph(String.format(Locale.ROOT, "A %d-layer teacher trained from scratch on a generated corpus, and a "
                + "student made of its layers %s with LoRA adapters (rank %d), trained %d steps with each method on a "
                + "transfer set of %d paragraphs (the teacher saw %d). neo minimises (1-α)·CE + α·T²·KL(teacher‖student) "
                + "with α = %.2f, T = 2; sft minimises CE alone. Total time %.0f s.", size.layers(), size.studentLayers(),
                size.loraRank(), size.studentSteps(), size.transferParagraphs(), size.paragraphs(), size.alpha(), seconds));
        List<List<String>> table = new ArrayList<>();
        for (Row r : rows) {
            table.add(List.of(r.model(), String.format(Locale.ROOT, "%.3f", r.perplexity()),
                    String.format(Locale.ROOT, "%.3f", r.agreement()), String.format(Locale.ROOT, "%.4f", r.kl())));
        }
        report.table("Held-out evaluation", List.of("model", "perplexity", "top-1 agreement with teacher", "KL(teacher‖model)"), table);
        Map<String, List<double[]>> ppl = new LinkedHashMap<>(), agreement = new LinkedHashMap<>(), loss = new LinkedHashMap<>();
        for (Map.Entry<String, DistillJob.Outcome> e : outcomes.entrySet()) {
            List<Map<String, Object>> m = new MetricsLog(work.resolve("student-" + e.getKey()).resolve("metrics.jsonl")).read();
            ppl.put(e.getKey(), HtmlReport.series(m, "eval_ppl"));
            agreement.put(e.getKey(), HtmlReport.series(m, "eval_agreement"));
            loss.put(e.getKey() + " cross-entropy", HtmlReport.series(m, "ce"));
        }
        report.chart("Student held-out perplexity", "perplexity", ppl);
        report.chart("Student top-1 agreement with the teacher", "fraction", agreement);
        report.chart("Student training cross-entropy", "nats / token", loss);
        report.chart("Teacher training loss", "nats / token", HtmlReport.one("teacher",
                HtmlReport.series(new MetricsLog(work.resolve("teacher-run").resolve("metrics.jsonl")).read(), "loss")));
        Path file = work.resolve("report.html");
        report.write(file);
        return file;
    }
}
