package dev.retort.cli;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
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
 * {@code retort bench train --mode train|fwd|lora-kd}: the same model and step as tools/torch-train-bench.py (a
 * tied Llama with random weights and random tokens; train = forward + cross-entropy + backward + AdamW over all
 * parameters; fwd = forward to logits without gradients; lora-kd = see {@link #loraKdStep}). Warm-up, then the median of several steps; the last
 * line is "N tokens/s".
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = "Measure a training (or forward) step of a Llama; prints tokens/s last.")
final class BenchTrainCommand implements Callable<Integer> {
    @Option(names = "--mode", defaultValue = "train", description = "train, fwd or lora-kd (default ${DEFAULT-VALUE}).")
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
        if (!java.util.List.of("train", "fwd", "lora-kd").contains(mode)) {
            throw new IllegalArgumentException("--mode must be train, fwd or lora-kd, got '" + mode + "'");
        }
        SplittableRandom random = new SplittableRandom(0);
        int n = shape.batch * shape.seq;
        int[] tokens = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = random.nextInt(shape.vocab);
            targets[i] = random.nextInt(shape.vocab);
        }
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.random(shape.config(shape.layers, true, shape.seq), arena, 0);
            Runnable step = switch (mode) {
                case "train" -> {
                    AdamW optimizer = new AdamW(java.util.List.of(ParamGroup.of(model.trainableParameters(), 0)), 1e-4);
                    yield () -> {
                        optimizer.zeroGrad();
                        try (Graph g = Graph.withGrad(pool)) {
                            model.loss(g, tokens, targets, shape.batch, shape.seq, 0).backward();
                        }
                        optimizer.step();
                    };
                }
                case "fwd" -> () -> {
                    try (Graph g = Graph.noGrad(pool)) {
                        model.logits(g, tokens, shape.batch, shape.seq);
                    }
                };
                default -> loraKdStep(model, arena, pool, tokens, targets);
            };
            double seconds = medianStepSeconds(step, steps);
            System.out.printf(Locale.ROOT, "retort mode=%s threads=%d vocab=%d dim=%d layers=%d T=%d B=%d: step median %.0f ms, "
                            + "peak activations %.0f MB, peak resident memory %s%n",
                    mode, ThreadPool.shared().threads(), shape.vocab, shape.dim, shape.layers, shape.seq, shape.batch,
                    seconds * 1e3, pool.peakBytesInUse() / 1e6, peakResidentMemory());
            System.out.printf(Locale.ROOT, "%.0f tokens/s%n", n / seconds);
        }
        return 0;
    }

    /**
     * The LoRA-KD step of the PyTorch script: a frozen teacher with twice the layers runs without gradients;
     * the student gets LoRA (rank 16, alpha 32) on all seven projections of a frozen base; loss = 0.5·CE +
     * 0.5·T²·KL(teacher ‖ student) at T = 2 over the full vocabulary; backward and AdamW over the adapters.
     */
    private Runnable loraKdStep(LlamaModel student, Arena arena, BufferPool pool, int[] tokens, int[] targets) {
        LlamaModel teacher = LlamaModel.random(shape.config(2 * shape.layers, true, shape.seq), arena, 1);
        teacher.freeze();
        dev.retort.models.lora.LoraModel lora = dev.retort.models.lora.Lora.attach(student,
                dev.retort.models.lora.LoraConfig.of(16, 32, dev.retort.models.lora.LoraConfig.ALL_LINEAR));
        AdamW optimizer = new AdamW(lora.paramGroups(0, 1), 1e-4);
        dev.retort.distill.loss.KdConfig kd = new dev.retort.distill.loss.KdConfig(
                dev.retort.distill.loss.Divergence.FKL, 2.0, 0.5, 0.5, 0);
        dev.retort.distill.train.KdObjective objective = dev.retort.distill.train.KdObjective.live(student, teacher, kd);
        dev.retort.distill.data.Batch batch = new dev.retort.distill.data.Batch(tokens, targets, shape.batch, shape.seq, new int[shape.batch]);
        return () -> {
            optimizer.zeroGrad();
            try (Graph g = Graph.withGrad(pool)) {
                objective.loss(g, batch, batch.targetCount(), 0).loss().backward();
            }
            optimizer.step();
        };
    }

    /** The process's peak resident set (VmHWM from /proc/self/status), or "unknown" off Linux. */
    static String peakResidentMemory() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    long kb = Long.parseLong(line.replaceAll("[^0-9]", ""));
                    return String.format(Locale.ROOT, "%.0f MB", kb / 1024.0);
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux: no figure
        }
        return "unknown";
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
