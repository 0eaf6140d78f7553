package dev.retort.distill.data;

/**
 * {@code batch} rows of {@code seq} tokens, flattened row-major: inputs[b·seq + t], targets[b·seq + t].
 * {@code source} says who wrote the responses of a generated batch ("student", "teacher") or "data"; it is null
 * for plain data rows, and logged as metrics.jsonl's "source" otherwise.
 */
public record Batch(int[] inputs, int[] targets, int batch, int seq, int[] rows, String source) {

    public Batch(int[] inputs, int[] targets, int batch, int seq, int[] rows) {
        this(inputs, targets, batch, seq, rows, null);
    }

    /** This batch, labelled with who wrote its responses. */
    public Batch from(String who) {
        return new Batch(inputs, targets, batch, seq, rows, who);
    }

    /** Gathers the given rows of {@code data}. */
    public static Batch of(PackedData data, int[] rows) {
        int seq = data.seqLen();
        int[] in = new int[rows.length * seq], tg = new int[rows.length * seq];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(data.inputs(rows[i]), 0, in, i * seq, seq);
            System.arraycopy(data.targets(rows[i]), 0, tg, i * seq, seq);
        }
        return new Batch(in, tg, rows.length, seq, rows.clone());
    }

    /** Target tokens (not ignored) in this batch. */
    public int targetCount() {
        int n = 0;
        for (int t : targets) if (t != dev.retort.autograd.ops.CrossEntropy.IGNORE_INDEX) n++;
        return n;
    }
}
