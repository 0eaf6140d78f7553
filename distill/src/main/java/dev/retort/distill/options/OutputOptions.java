package dev.retort.distill.options;

import java.nio.file.Path;

/**
 * Where a run writes (checkpoint, student or adapter, metrics.jsonl, report.html), whether it continues from the
 * checkpoint there, and whether it draws a progress bar.
 */
public record OutputOptions(Path out, boolean resume, boolean progress) {
    public OutputOptions {
        if (out == null) throw new IllegalArgumentException("--out is required (on the command line or in --config)");
    }
}
