package dev.retort.cli;

import dev.retort.distill.bench.Measure;
import dev.retort.distill.bench.StepFlops;
import dev.retort.distill.bench.TrainStepBench;
import dev.retort.distill.options.LoraOptions;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.lora.LoraConfig;
import dev.retort.tensor.ThreadPool;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort bench train --mode train|fwd|lora-kd}: parse, run {@link TrainStepBench}, print. The KD and LoRA
 * options are distill's (their defaults are the step of tools/torch-train-bench.py: T = 2, α = 0.5, rank 16,
 * alpha 32 on all seven projections). Before the last line it prints the step's model FLOP utilisation: the FLOPs
 * per token counted from the shape ({@link StepFlops}) times tokens/s, against {@code --peak-gflops} or a GEMM
 * it measures. The last line is "N tokens/s".
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = "Measure a training (or forward) step of a Llama; prints tokens/s last.")
final class BenchTrainCommand implements Callable<Integer> {
    @Option(names = "--mode", defaultValue = "train", description = "train, fwd or lora-kd (default ${DEFAULT-VALUE}).")
    String mode;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Option(names = "--steps", defaultValue = "6", description = "Timed steps; the median is reported (default ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--peak-gflops", description = "The machine's peak GFLOP/s for the MFU line (default: measured with a 1024³ GEMM on the same threads).")
    Double peakGflops;
    @Mixin
    ModelShapeOptions shape;
    @Mixin
    OptionGroups.Kd kd;
    @Mixin
    OptionGroups.Lora lora;

    /** Side of the square GEMM that measures the peak when --peak-gflops is not given (~2 GFLOP a call). */
    private static final int PEAK_GEMM_SIZE = 1024;

    @Override
    public Integer call() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        if (peakGflops != null && !(peakGflops > 0 && Double.isFinite(peakGflops))) {
            throw new IllegalArgumentException("--peak-gflops must be a positive number of GFLOP/s, got " + peakGflops);
        }
        if (lora.options().bottleneck()) {
            throw new IllegalArgumentException("--adapter-type bottleneck: bench train's lora-kd mode measures LoRA adapters only");
        }
        LlamaConfig student = shape.config(shape.layers, true, shape.seq);
        LoraConfig adapters = lora.options().config(LoraOptions.NEO_RANK, 0);
        TrainStepBench.Result r = TrainStepBench.run(mode, student, 2 * shape.layers, shape.batch, shape.seq, kd.options(),
                adapters, steps);
        System.out.printf(Locale.ROOT, "retort mode=%s threads=%d vocab=%d dim=%d layers=%d T=%d B=%d: step median %.0f ms, "
                        + "peak activations %.0f MB, peak resident memory %s%n",
                mode, ThreadPool.shared().threads(), shape.vocab, shape.dim, shape.layers, shape.seq, shape.batch,
                r.secondsPerStep() * 1e3, r.peakActivationBytes() / 1e6, Measure.peakResidentMemory());
        double tokensPerSecond = shape.batch * shape.seq / r.secondsPerStep();
        double flopsPerToken = StepFlops.perToken(mode, student, 2 * shape.layers, adapters, shape.seq);
        double peak = peakGflops != null ? peakGflops : Measure.gemmGflops(PEAK_GEMM_SIZE);
        System.out.printf(Locale.ROOT, "%.1f MFLOP/token x %.0f tokens/s = %.1f GFLOP/s: MFU %.1f%% of %.1f GFLOP/s (%s)%n",
                flopsPerToken / 1e6, tokensPerSecond, flopsPerToken * tokensPerSecond / 1e9,
                100 * flopsPerToken * tokensPerSecond / 1e9 / peak, peak,
                peakGflops != null ? "--peak-gflops" : "measured: F32 GEMM " + PEAK_GEMM_SIZE + "³ on " + ThreadPool.shared().threads() + " threads");
        System.out.printf(Locale.ROOT, "%.0f tokens/s%n", tokensPerSecond);
        return 0;
    }
}
