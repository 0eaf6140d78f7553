package dev.retort.cli;

import dev.retort.distill.bench.GkdStepBench;
import dev.retort.distill.bench.Measure;
import dev.retort.tensor.ThreadPool;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort bench gkd}: one on-policy GKD step (λ = 1) on random models of the --dim/--layers/... shape (the
 * teacher) and --student-layers layers of that width (the student): B prompts of --prompt-tokens, responses of
 * --new-tokens. Prints the time split and, last, the step's generated tokens/s.
 */
@Command(name = "gkd", mixinStandardHelpOptions = true, description = "Measure an on-policy GKD step (generation, teacher scoring, student update); prints tokens/s last.")
final class BenchGkdCommand implements Callable<Integer> {
    @Option(names = "--student-layers", defaultValue = "3", description = "Student layers (default ${DEFAULT-VALUE}).")
    int studentLayers;
    @Option(names = "--prompt-tokens", defaultValue = "32", description = "Prompt tokens (default ${DEFAULT-VALUE}).")
    int promptTokens;
    @Option(names = "--new-tokens", defaultValue = "64", description = "Tokens the student samples per prompt (default ${DEFAULT-VALUE}).")
    int newTokens;
    @Option(names = "--steps", defaultValue = "4", description = "Timed steps; medians are reported (default ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Mixin
    ModelShapeOptions shape;

    @Override
    public Integer call() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        if (studentLayers < 1 || promptTokens < 1 || newTokens < 1 || steps < 1) {
            throw new IllegalArgumentException("--student-layers, --prompt-tokens, --new-tokens and --steps must be at least 1");
        }
        GkdStepBench.Result r = GkdStepBench.run(shape.config(shape.layers, true, promptTokens + newTokens), studentLayers,
                shape.batch, promptTokens, newTokens, steps);
        System.out.printf(Locale.ROOT, "retort gkd threads=%d vocab=%d dim=%d teacher layers=%d student layers=%d B=%d prompt=%d new=%d: "
                        + "step %.0f ms = generation %.0f + teacher scoring %.0f + student update %.0f; peak resident memory %s%n",
                ThreadPool.shared().threads(), shape.vocab, shape.dim, shape.layers, studentLayers, shape.batch, promptTokens, newTokens,
                r.step() * 1e3, r.generation() * 1e3, r.teacherScoring() * 1e3, r.studentUpdate() * 1e3, Measure.peakResidentMemory());
        System.out.printf(Locale.ROOT, "%.0f tokens/s%n", r.generatedTokens() / r.step());
        return 0;
    }
}
