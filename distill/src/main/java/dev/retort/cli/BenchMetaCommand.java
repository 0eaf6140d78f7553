package dev.retort.cli;

import dev.retort.distill.bench.MetaBench;
import dev.retort.tensor.ThreadPool;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code retort bench meta}: parse, run {@link MetaBench} (KD vs meta-distillation with a LoRA or full teacher update). */
@Command(name = "meta", mixinStandardHelpOptions = true,
        description = "Measure a step of KD and of meta-distillation (LoRA and full teacher update): time and memory.")
final class BenchMetaCommand implements Callable<Integer> {
    @Option(names = "--modes", defaultValue = "kd,meta-lora,meta-full", description = "Modes to run, in order (default ${DEFAULT-VALUE}).")
    String modes;
    @Option(names = "--teacher-layers", description = "Teacher layers (default: twice --layers).")
    Integer teacherLayers;
    @Option(names = "--steps", defaultValue = "3", description = "Timed steps; the median is reported (default ${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Mixin
    ModelShapeOptions shape;

    @Override
    public Integer call() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        int teacher = teacherLayers == null ? 2 * shape.layers : teacherLayers;
        MetaBench.run(Arrays.asList(modes.split(",")), shape.config(shape.layers, true, shape.seq),
                shape.config(teacher, true, shape.seq), shape.batch, shape.seq, steps, System.out);
        return 0;
    }
}
