package dev.retort.cli;

import dev.retort.distill.DistillJob;
import dev.retort.distill.method.Method;
import dev.retort.distill.method.Methods;
import dev.retort.distill.options.DistillOptions;
import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code retort distill --teacher DIR (--student DIR | --student-layers LIST) --data FILE --out DIR [options]}:
 * trains a student from a teacher. Parse, call {@link DistillJob}, print. The same options can come from a JSON
 * or YAML file with {@code --config}.
 */
@Command(name = "distill", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Distil a teacher into a student (methods: sft, kd, neo, meta, seqkd, gkd, progressive).")
final class DistillCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--config", description = "JSON or YAML file of options (keys are flag names without dashes, kebab-case or snake_case); flags given here win.")
    Path config;
    @Option(names = "--method", defaultValue = "neo", description = "sft, kd, neo, meta, seqkd, gkd or progressive (default ${DEFAULT-VALUE}).")
    String method;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Mixin
    OptionGroups.Models models;
    @Mixin
    OptionGroups.Data data;
    @Mixin
    OptionGroups.Kd kd;
    @Mixin
    OptionGroups.Lora lora;
    @Mixin
    OptionGroups.Features features;
    @Mixin
    OptionGroups.Meta meta;
    @Mixin
    OptionGroups.Gkd gkd;
    @Mixin
    ProgressiveFlags progressive;
    @Mixin
    OptionGroups.Prune prune;
    @Mixin
    OptionGroups.Training training;
    @Mixin
    OptionGroups.Output output;

    @Override
    public Integer call() throws Exception {
        ConfigFileDefaults.apply(spec, config);
        if (threads != null) ThreadPool.setSharedThreads(threads);
        Method chosen = Methods.named(method);
        DistillOptions options = new DistillOptions(chosen.name(), models.options().requireStudent(),
                data.options().requireData(), training.options(), lora.options(), kd.options(chosen.kdDefaults()), features.options(),
                meta.options(), gkd.options(), prune.options(), output.options(), progressive.options());
        DistillJob.Outcome outcome = DistillJob.run(options);
        var eval = outcome.training().finalEval();
        if (eval != null) {
            System.out.printf(Locale.ROOT, "held-out: student ppl %.3f, teacher ppl %.3f, top-1 agreement %.3f%n",
                    eval.perplexity(), outcome.teacherEval() == null ? Double.NaN : outcome.teacherEval().perplexity(), eval.agreement());
        }
        System.out.println("resources: " + outcome.training().resources().summary());
        System.out.println((outcome.adapterDir() != null ? "adapter: " + outcome.adapterDir() : "student: " + outcome.studentDir())
                + "  report: " + outcome.report());
        return 0;
    }
}
