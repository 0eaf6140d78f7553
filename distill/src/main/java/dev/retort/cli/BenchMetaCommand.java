package dev.retort.cli;

import dev.retort.distill.bench.MetaBench;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code retort bench meta}: parse, run {@link MetaBench} (KD vs meta-distillation with a LoRA or full teacher update). */
@Command(name = "meta", mixinStandardHelpOptions = true,
        description = "Measure a step of KD and of meta-distillation (LoRA and full teacher update): time, memory and energy.")
final class BenchMetaCommand implements Callable<Integer> {
    @Option(names = "--modes", defaultValue = "kd,meta-lora,meta-full", description = "Modes to run, in order (default ${DEFAULT-VALUE}).")
    String modes;
    @Option(names = "--teacher-layers", description = "Teacher layers (default: twice --layers).")
    Integer teacherLayers;
    @Option(names = "--teacher-dim", description = "Teacher hidden size (default: --dim).")
    Integer teacherDim;
    @Option(names = "--teacher-heads", description = "Teacher attention heads (default: --heads).")
    Integer teacherHeads;
    @Option(names = "--teacher-kv-heads", description = "Teacher key/value heads (default: --kv-heads).")
    Integer teacherKvHeads;
    @Option(names = "--teacher-hidden", description = "Teacher MLP width (default: --hidden).")
    Integer teacherHidden;
    @Option(names = "--steps", defaultValue = "3", description = "Timed steps; the median is reported (default ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Option(names = "--json", description = "One JSON object per mode instead of the header and lines.")
    boolean json;
    @Mixin
    ModelShapeOptions shape;

    @Override
    public Integer call() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        LlamaConfig student = shape.config(shape.layers, true, shape.seq);
        int dim = teacherDim == null ? shape.dim : teacherDim, heads = teacherHeads == null ? shape.heads : teacherHeads;
        int kvHeads = teacherKvHeads == null ? shape.kvHeads : teacherKvHeads, hidden = teacherHidden == null ? shape.hidden : teacherHidden;
        int layers = teacherLayers == null ? 2 * shape.layers : teacherLayers;
        for (int v : new int[] {dim, heads, kvHeads, hidden, layers}) {
            if (v < 1) throw new IllegalArgumentException("teacher shape values must be positive");
        }
        if (dim % heads != 0) throw new IllegalArgumentException("--teacher-dim " + dim + " is not a multiple of --teacher-heads " + heads);
        if (heads % kvHeads != 0) throw new IllegalArgumentException("--teacher-heads " + heads + " is not a multiple of --teacher-kv-heads " + kvHeads);
        LlamaConfig teacher = new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, shape.vocab, shape.seq, 1e-5, 10000.0,
                null, true, 1, List.of(2), false, false, DType.F32);
        MetaBench.run(Arrays.asList(modes.split(",")), student, teacher, shape.batch, shape.seq, steps, json, System.out);
        return 0;
    }
}
