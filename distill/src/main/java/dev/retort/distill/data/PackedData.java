package dev.retort.distill.data;

import dev.retort.autograd.ops.CrossEntropy;
import java.util.ArrayList;
import java.util.List;

/**
 * Examples packed end to end into rows of {@code seqLen} tokens. Row r holds inputs[r][t] and
 * targets[r][t] = the token that follows (the next token of the stream, or {@link CrossEntropy#IGNORE_INDEX}
 * where that token is not trained on, or past the end). Consecutive rows overlap by one token, so every
 * target token of the stream is predicted exactly once.
 */
public final class PackedData {
    private final int seqLen;
    private final List<int[]> inputs;
    private final List<int[]> targets;
    private final int[] originalRows;   // row i of this data is row originalRows[i] of the packed file
    private final int[] promptLengths;  // one example per row: its prompt's tokens; null when packed end to end

    private PackedData(int seqLen, List<int[]> inputs, List<int[]> targets, int[] originalRows, int[] promptLengths) {
        this.seqLen = seqLen;
        this.inputs = inputs;
        this.targets = targets;
        this.originalRows = originalRows;
        this.promptLengths = promptLengths;
    }

    /**
     * One example per row, cut to {@code seqLen} tokens and padded after its end (padding is never a target, and
     * causal attention keeps it out of the example's own positions). The prompt of a row is its tokens before the
     * first target — what on-policy distillation lets the student answer ({@link #promptLength}). Examples whose
     * prompt leaves no room for a target are skipped.
     */
    public static PackedData perExample(List<Example> examples, int seqLen, int padToken) {
        if (seqLen < 2) throw new IllegalArgumentException("sequence length must be at least 2, got " + seqLen);
        List<int[]> inputs = new ArrayList<>(), targets = new ArrayList<>();
        List<Integer> prompts = new ArrayList<>();
        for (Example e : examples) {
            int n = Math.min(seqLen + 1, e.tokens().length);
            int prompt = 0;
            while (prompt < n && !e.target()[prompt]) prompt++;
            if (prompt == 0 || prompt >= Math.min(seqLen, n)) continue;
            int[] in = new int[seqLen], tg = new int[seqLen];
            for (int t = 0; t < seqLen; t++) {
                in[t] = t < n ? e.tokens()[t] : padToken;
                tg[t] = t + 1 < n && e.target()[t + 1] ? e.tokens()[t + 1] : CrossEntropy.IGNORE_INDEX;
            }
            inputs.add(in);
            targets.add(tg);
            prompts.add(prompt);
        }
        int[] identity = new int[inputs.size()];
        for (int i = 0; i < identity.length; i++) identity[i] = i;
        return new PackedData(seqLen, inputs, targets, identity, prompts.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Whether each row is one example with its prompt first ({@link #perExample}) rather than packed text. */
    public boolean hasPrompts() { return promptLengths != null; }

    /** The number of prompt tokens at the start of {@code row} (rows of {@link #perExample} only). */
    public int promptLength(int row) {
        if (promptLengths == null) throw new IllegalStateException("packed rows have no prompts");
        return promptLengths[row];
    }

    public static PackedData pack(List<Example> examples, int seqLen, int padToken) {
        if (seqLen < 1) throw new IllegalArgumentException("sequence length must be at least 1, got " + seqLen);
        int total = 0;
        for (Example e : examples) total += e.tokens().length;
        int[] stream = new int[total];
        boolean[] isTarget = new boolean[total];
        int at = 0;
        for (Example e : examples) {
            System.arraycopy(e.tokens(), 0, stream, at, e.tokens().length);
            System.arraycopy(e.target(), 0, isTarget, at, e.tokens().length);
            at += e.tokens().length;
        }
        List<int[]> inputs = new ArrayList<>(), targets = new ArrayList<>();
        for (int start = 0; start + 1 < total; start += seqLen) {
            int[] in = new int[seqLen], tg = new int[seqLen];
            for (int t = 0; t < seqLen; t++) {
                int i = start + t;
                in[t] = i < total ? stream[i] : padToken;
                tg[t] = i + 1 < total && isTarget[i + 1] ? stream[i + 1] : CrossEntropy.IGNORE_INDEX;
            }
            inputs.add(in);
            targets.add(tg);
        }
        int[] identity = new int[inputs.size()];
        for (int i = 0; i < identity.length; i++) identity[i] = i;
        return new PackedData(seqLen, inputs, targets, identity, null);
    }

    /** Which row of the whole packed file row {@code row} is (a teacher cache is indexed by those). */
    public int originalRow(int row) { return originalRows[row]; }

    public int seqLen() { return seqLen; }

    public int rows() { return inputs.size(); }

    public int[] inputs(int row) { return inputs.get(row); }

    public int[] targets(int row) { return targets.get(row); }

    /** Target tokens (not ignored) over all rows. */
    public long targetCount() {
        long n = 0;
        for (int[] t : targets) for (int v : t) if (v != CrossEntropy.IGNORE_INDEX) n++;
        return n;
    }

    /**
     * Splits off a held-out set: every k-th row (k = round(1/fraction)) is held out, so both halves sample the
     * whole corpus. Returns {train, heldOut}; with fraction 0 the held-out set is empty.
     */
    public PackedData[] split(double fraction) {
        if (fraction < 0 || fraction >= 1) throw new IllegalArgumentException("held-out fraction must be in [0, 1), got " + fraction);
        List<Integer> train = new ArrayList<>(), held = new ArrayList<>();
        int every = fraction == 0 ? Integer.MAX_VALUE : (int) Math.max(2, Math.round(1 / fraction));
        for (int r = 0; r < rows(); r++) (fraction > 0 && r % every == every - 1 ? held : train).add(r);
        return new PackedData[] {select(train), select(held)};
    }

    /** These rows of this data, in this order. */
    private PackedData select(List<Integer> rows) {
        List<int[]> in = new ArrayList<>(), tg = new ArrayList<>();
        int[] original = new int[rows.size()], prompts = promptLengths == null ? null : new int[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            int r = rows.get(i);
            in.add(inputs.get(r));
            tg.add(targets.get(r));
            original[i] = originalRows[r];
            if (prompts != null) prompts[i] = promptLengths[r];
        }
        return new PackedData(seqLen, in, tg, original, prompts);
    }

    /** Rows [from, to) of this data. */
    public PackedData rows(int from, int to) {
        return new PackedData(seqLen, inputs.subList(from, to), targets.subList(from, to),
                java.util.Arrays.copyOfRange(originalRows, from, to),
                promptLengths == null ? null : java.util.Arrays.copyOfRange(promptLengths, from, to));
    }
}
