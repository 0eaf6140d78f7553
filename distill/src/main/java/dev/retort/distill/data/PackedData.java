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

    private PackedData(int seqLen, List<int[]> inputs, List<int[]> targets, int[] originalRows) {
        this.seqLen = seqLen;
        this.inputs = inputs;
        this.targets = targets;
        this.originalRows = originalRows;
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
        return new PackedData(seqLen, inputs, targets, identity);
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
        List<int[]> trainIn = new ArrayList<>(), trainTg = new ArrayList<>(), evalIn = new ArrayList<>(), evalTg = new ArrayList<>();
        List<Integer> trainRows = new ArrayList<>(), evalRows = new ArrayList<>();
        int every = fraction == 0 ? Integer.MAX_VALUE : (int) Math.max(2, Math.round(1 / fraction));
        for (int r = 0; r < rows(); r++) {
            boolean held = fraction > 0 && r % every == every - 1;
            (held ? evalIn : trainIn).add(inputs.get(r));
            (held ? evalTg : trainTg).add(targets.get(r));
            (held ? evalRows : trainRows).add(originalRows[r]);
        }
        return new PackedData[] {
            new PackedData(seqLen, trainIn, trainTg, trainRows.stream().mapToInt(Integer::intValue).toArray()),
            new PackedData(seqLen, evalIn, evalTg, evalRows.stream().mapToInt(Integer::intValue).toArray())};
    }

    /** Rows [from, to) of this data. */
    public PackedData rows(int from, int to) {
        return new PackedData(seqLen, inputs.subList(from, to), targets.subList(from, to),
                java.util.Arrays.copyOfRange(originalRows, from, to));
    }
}
