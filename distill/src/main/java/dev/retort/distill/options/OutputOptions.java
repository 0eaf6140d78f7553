package dev.retort.distill.options;

import java.nio.file.Path;

/**
 * Where a run writes (checkpoint, student or adapter, metrics.jsonl, report.html), whether it continues from the
 * checkpoint there or replaces a previous run's outputs ({@link dev.retort.distill.OutputDirectory}), whether it draws a progress bar, and the power per busy core that estimates its energy where
 * the machine's energy counters cannot be read ({@link dev.retort.distill.train.ResourceUse}), and the memory a
 * run may plan to use ({@code memoryLimit} bytes; 0: what the machine has available, see
 * {@link dev.retort.distill.MemoryPlan}).
 */
public record OutputOptions(Path out, boolean resume, boolean progress, double coreWatts, boolean overwrite, long memoryLimit) {
    /** A typical server core under load; {@code --core-watts} sets the machine's own figure. */
    public static final double DEFAULT_CORE_WATTS = 10.0;

    public OutputOptions {
        if (out == null) throw new IllegalArgumentException("--out is required (on the command line or in --config)");
        if (!(coreWatts > 0) || Double.isInfinite(coreWatts)) throw new IllegalArgumentException("--core-watts must be a positive number, got " + coreWatts);
        if (resume && overwrite) throw new IllegalArgumentException("--resume continues the run in --out and --overwrite replaces it: give one");
    }

    public OutputOptions(Path out, boolean resume, boolean progress) {
        this(out, resume, progress, DEFAULT_CORE_WATTS, false, 0);
    }
}
