package dev.retort.distill.data;

import java.util.SplittableRandom;

/**
 * Which rows form the batch of each optimizer step: every epoch visits the rows in an order shuffled from
 * (seed, epoch) alone, so the batch of step s is a pure function of s — a resumed run sees exactly the batches
 * an uninterrupted run would.
 */
public final class BatchSchedule {
    private final int rows, batchSize;
    private final long seed;
    private int cachedEpoch = -1;
    private int[] cachedOrder;

    public BatchSchedule(int rows, int batchSize, long seed) {
        if (rows < 1) throw new IllegalArgumentException("no training rows: the data is shorter than one sequence");
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        this.rows = rows;
        this.batchSize = batchSize;
        this.seed = seed;
    }

    /** Batches per epoch (a last partial batch is dropped unless it is the only one). */
    public int batchesPerEpoch() {
        return Math.max(1, rows / batchSize);
    }

    /** The rows of micro-batch {@code index} (0-based, counting across epochs). */
    public int[] rowsOf(long index) {
        int epoch = (int) (index / batchesPerEpoch());
        int within = (int) (index % batchesPerEpoch());
        int[] order = order(epoch);
        int n = Math.min(batchSize, rows);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = order[(within * batchSize + i) % rows];
        return out;
    }

    public int epochOf(long index) {
        return (int) (index / batchesPerEpoch());
    }

    private int[] order(int epoch) {
        if (epoch != cachedEpoch) {
            int[] order = new int[rows];
            for (int i = 0; i < rows; i++) order[i] = i;
            SplittableRandom random = new SplittableRandom(seed * 1_000_003L + epoch);
            for (int i = rows - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            cachedOrder = order;
            cachedEpoch = epoch;
        }
        return cachedOrder;
    }
}
