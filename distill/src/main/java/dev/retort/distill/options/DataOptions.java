package dev.retort.distill.options;

import java.nio.file.Path;

/**
 * The text a run trains and evaluates on, and how it is cut into rows.
 *
 * @param data     training data: plain text (paragraphs) or JSONL ({"text"} or {"prompt","response"})
 * @param evalData held-out file, or null to hold out a {@code heldOut} fraction of {@code data}
 * @param seqLen   tokens per packed row
 * @param heldOut  fraction of the rows of {@code data} held out when there is no {@code evalData}
 */
public record DataOptions(Path data, Path evalData, int seqLen, double heldOut) {
    /** The command line's defaults (no files). */
    public static final DataOptions DEFAULTS = new DataOptions(null, null, 256, 0.05);

    public DataOptions {
        if (seqLen < 2) throw new IllegalArgumentException("--seq-len must be at least 2, got " + seqLen);
        if (!(heldOut >= 0 && heldOut < 1)) throw new IllegalArgumentException("--held-out must be in [0, 1), got " + heldOut);
    }

    public DataOptions withFiles(Path newData, Path newEvalData) {
        return new DataOptions(newData, newEvalData, seqLen, heldOut);
    }

    public DataOptions withSeqLen(int n) {
        return new DataOptions(data, evalData, n, heldOut);
    }

    /** For a run that trains: a data file is required. */
    public DataOptions requireData() {
        if (data == null) throw new IllegalArgumentException("--data is required (on the command line or in --config)");
        return this;
    }
}
