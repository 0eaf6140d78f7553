package dev.retort.distill;

import dev.retort.autograd.BufferPool;
import dev.retort.distill.method.Method;
import dev.retort.models.llama.TokenPruningFiles;
import dev.retort.distill.method.Methods;
import dev.retort.distill.method.Plan;
import dev.retort.distill.method.Workspace;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.report.HtmlReport;
import dev.retort.distill.train.Evaluator;
import dev.retort.distill.train.MetricsLog;
import dev.retort.distill.train.Trainer;
import dev.retort.models.export.ModelExporter;
import dev.retort.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One {@code retort distill} run, the same for every method: check the options, load the models and data
 * ({@link Workspace}), let the method make its {@link Plan}, run the {@link Trainer}, then write the student (or
 * its adapter), whatever else the plan names, and the report.
 */
public final class DistillJob {
    /** What a run produced. */
    public record Outcome(Trainer.Result training, Evaluator.Result teacherEval, Path studentDir, Path adapterDir, Path report) {}

    private DistillJob() {}

    public static Outcome run(DistillOptions o) throws IOException {
        Method method = Methods.named(o.method());
        o.models().requireStudent();
        o.data().requireData();
        method.check(o);
        if (o.prune().enabled() && !method.name().equals("seqkd")) {
            throw new IllegalArgumentException("--prune-layer: --method " + method.name() + " is not supported; token pruning "
                    + "prunes the prompts of one-example rows, which --method seqkd trains on");
        }
        OutputDirectory.check(o.output(), o.models());
        MemoryPlan memory = MemoryPlan.of(o, method);
        memory.requireWithin(o.output().memoryLimit(), MemoryPlan.DISTILL_ADVICE);
        if (o.output().progress()) System.err.println("memory plan: " + memory.describe());
        Path out = o.output().out();
        Files.createDirectories(out);

        try (Workspace run = Workspace.open(o, method)) {
            Plan plan = method.plan(run);
            Trainer trainer = new Trainer(o.training(), plan, run.student(), run.teacher(), run.heldOut(),
                    o.fixedSettings().toString(), o.output());
            Trainer.Result result = trainer.run(o.output().resume());

            // outputs
            Path studentDir = null, adapterDir = null;
            if (plan.studentAdapters() != null) {
                Path base = o.models().student();
                if (base == null) {   // a student made of teacher layers: its frozen base is written once, beside the adapter
                    base = OutputDirectory.fresh(out.resolve("student-base"));
                    ModelExporter.save(run.student(), null, o.models().teacher(), base, DType.F32);
                }
                adapterDir = OutputDirectory.fresh(out.resolve("adapter"));
                plan.studentAdapters().save(adapterDir, base.toAbsolutePath().toString());
                if (run.student().pruning() != null) TokenPruningFiles.save(adapterDir, run.student().pruning());
            } else {
                studentDir = OutputDirectory.fresh(out.resolve("student"));
                ModelExporter.save(run.student(), null, o.models().teacher(), studentDir, DType.F32);
                if (run.student().pruning() != null) TokenPruningFiles.save(studentDir, run.student().pruning());
            }
            for (Plan.Output extra : plan.extraOutputs()) extra.write(out);
            Evaluator.Result teacherEval = null;
            if (run.heldOut().rows() > 0) {
                try (BufferPool pool = new BufferPool()) {
                    teacherEval = Evaluator.evaluate(run.teacher(), null, run.heldOut(), o.training(), pool);
                }
            }
            Path report = writeReport(o, result, teacherEval);
            return new Outcome(result, teacherEval, studentDir, adapterDir, report);
        }
    }

    private static Path writeReport(DistillOptions o, Trainer.Result result, Evaluator.Result teacherEval) {
        List<Map<String, Object>> rows = new MetricsLog(o.output().out().resolve("metrics.jsonl")).read();
        HtmlReport report = new HtmlReport("Retort distillation: " + o.method() + " from " + o.models().teacher().getFileName());
        Map<String, List<double[]>> loss = new LinkedHashMap<>();
        loss.put("loss", HtmlReport.series(rows, "loss"));
        loss.put("cross-entropy", HtmlReport.series(rows, "ce"));
        if (!HtmlReport.series(rows, "kd").isEmpty()) loss.put("KD divergence", HtmlReport.series(rows, "kd"));
        report.chart("Training loss", "nats / token", loss);
        List<double[]> ppl = HtmlReport.series(rows, "eval_ppl");
        Map<String, List<double[]>> perplexity = new LinkedHashMap<>(HtmlReport.one("student", ppl));
        if (teacherEval != null && !ppl.isEmpty()) {   // the teacher as a level line over the same steps
            perplexity.put("teacher", List.of(new double[] {ppl.getFirst()[0], teacherEval.perplexity()},
                    new double[] {Math.max(ppl.getLast()[0], ppl.getFirst()[0] + 1), teacherEval.perplexity()}));
        }
        report.chart("Held-out perplexity", "perplexity", perplexity);
        if (!HtmlReport.series(rows, "eval_agreement").isEmpty()) {
            report.chart("Top-1 agreement with the teacher (held out)", "fraction",
                    HtmlReport.one("student", HtmlReport.series(rows, "eval_agreement")));
        }
        report.chart("Learning rate", "lr", HtmlReport.one("lr", HtmlReport.series(rows, "lr")));
        report.chart("Gradient norm (before clipping)", "L2 norm", HtmlReport.one("grad_norm", HtmlReport.series(rows, "grad_norm")));
        Map<String, List<double[]>> templates = new LinkedHashMap<>();   // progressive's adaptive prompting
        for (int k = 0; !HtmlReport.series(rows, "template_" + k).isEmpty(); k++) {
            templates.put("template " + k, HtmlReport.series(rows, "template_" + k));
        }
        if (!templates.isEmpty()) report.chart("Prompt template weights (adaptive prompting)", "probability", templates);
        List<List<String>> table = new ArrayList<>();
        if (teacherEval != null) table.add(List.of("teacher", fmt(teacherEval.perplexity()), "1.000", "0"));
        Evaluator.Result s = result.finalEval();
        if (s != null) table.add(List.of("student (" + o.method() + ")", fmt(s.perplexity()), fmt(s.agreement()), fmt(s.kl())));
        report.table("Held-out evaluation", List.of("model", "perplexity", "top-1 agreement", "KL(teacher‖model)"), table);
        report.paragraph(String.format(Locale.ROOT, "%d steps, %,d tokens in %.1f s. Resources: %s.", result.steps(),
                result.tokens(), result.seconds(), result.resources().summary()));
        report.paragraph("Written " + java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).withNano(0) + " by Retort "
                + java.util.Objects.requireNonNullElse(DistillJob.class.getPackage().getImplementationVersion(), "(development build)") + ".");
        report.settings("Settings", o.settings());
        Path file = o.output().out().resolve("report.html");
        report.write(file);
        return file;
    }

    static String fmt(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }

}
