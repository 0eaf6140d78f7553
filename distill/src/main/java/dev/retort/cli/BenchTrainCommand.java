package dev.retort.cli;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort bench train --mode train|fwd}: the same model and step as tools/torch-train-bench.py (a tied
 * Llama with random weights and random tokens; train = forward + cross-entropy + backward + AdamW over all
 * parameters; fwd = forward to logits without gradients). Warm-up, then the median of several steps; the last
 * line is "N tokens/s".
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = "Measure a training (or forward) step of a Llama; prints tokens/s last.")
final class BenchTrainCommand implements Callable<Integer> {
    @Option(names = "--mode", defaultValue = "train", description = "train or fwd (default ${DEFAULT-VALUE}).")
    String mode;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--steps", defaultValue = "6", description = "Timed steps; the median is reported (default ${DEFAULT-VALUE}).")
    int steps;

    @Mixin
    ModelShapeOptions shape;

    @Override
    public Integer call() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        boolean train = switch (mode) {
            case "train" -> true;
            case "fwd" -> false;
            default -> throw new IllegalArgumentException("--mode must be train or fwd, got '" + mode + "'");
        };
        SplittableRandom random = new SplittableRandom(0);
        int n = shape.batch * shape.seq;
        int[] tokens = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = random.nextInt(shape.vocab);
            targets[i] = random.nextInt(shape.vocab);
        }
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.random(shape.config(shape.layers, true, shape.seq), arena, 0);
            AdamW optimizer = new AdamW(java.util.List.of(ParamGroup.of(model.trainableParameters(), 0)), 1e-4);
            Runnable step = train ? () -> {
                optimizer.zeroGrad();
                try (Graph g = Graph.withGrad(pool)) {
                    Var loss = model.loss(g, tokens, targets, shape.batch, shape.seq, 0);
                    loss.backward();
                }
                optimizer.step();
            } : () -> {
                try (Graph g = Graph.noGrad(pool)) {
                    model.logits(g, tokens, shape.batch, shape.seq);
                }
            };
            double seconds = medianStepSeconds(step, steps);
            System.out.printf(Locale.ROOT, "retort mode=%s threads=%d vocab=%d dim=%d layers=%d T=%d B=%d: step median %.0f ms, peak activations %.0f MB%n",
                    mode, ThreadPool.shared().threads(), shape.vocab, shape.dim, shape.layers, shape.seq, shape.batch,
                    seconds * 1e3, pool.peakBytesInUse() / 1e6);
            System.out.printf(Locale.ROOT, "%.0f tokens/s%n", n / seconds);
        }
        return 0;
    }

    /** Two warm-up steps, then the median of {@code steps} timed ones. */
    static double medianStepSeconds(Runnable step, int steps) {
        if (steps < 1) throw new IllegalArgumentException("--steps must be at least 1");
        step.run();
        step.run();
        double[] times = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            step.run();
            times[i] = (System.nanoTime() - t0) / 1e9;
        }
        Arrays.sort(times);
        return steps % 2 == 1 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    }
}
