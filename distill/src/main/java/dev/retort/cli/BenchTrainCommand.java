package dev.retort.cli;

import dev.retort.distill.bench.Measure;
import dev.retort.distill.bench.TrainStepBench;
import dev.retort.distill.options.LoraOptions;
import dev.retort.tensor.ThreadPool;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort bench train --mode train|fwd|lora-kd}: parse, run {@link TrainStepBench}, print. The KD and LoRA
 * options are distill's (their defaults are the step of tools/torch-train-bench.py: T = 2, α = 0.5, rank 16,
 * alpha 32 on all seven projections). The last line is "N tokens/s".
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
    @Mixin
    OptionGroups.Kd kd;
    @Mixin
    OptionGroups.Lora lora;

    @Override
    public Integer call() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        if (lora.options().bottleneck()) {
            throw new IllegalArgumentException("--adapter-type bottleneck: bench train's lora-kd mode measures LoRA adapters only");
        }
        TrainStepBench.Result r = TrainStepBench.run(mode, shape.config(shape.layers, true, shape.seq), 2 * shape.layers,
                shape.batch, shape.seq, kd.options(), lora.options().config(LoraOptions.NEO_RANK, 0), steps);
        System.out.printf(Locale.ROOT, "retort mode=%s threads=%d vocab=%d dim=%d layers=%d T=%d B=%d: step median %.0f ms, "
                        + "peak activations %.0f MB, peak resident memory %s%n",
                mode, ThreadPool.shared().threads(), shape.vocab, shape.dim, shape.layers, shape.seq, shape.batch,
                r.secondsPerStep() * 1e3, r.peakActivationBytes() / 1e6, Measure.peakResidentMemory());
        System.out.printf(Locale.ROOT, "%.0f tokens/s%n", shape.batch * shape.seq / r.secondsPerStep());
        return 0;
    }
}
