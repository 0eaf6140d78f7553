package dev.retort.distill.data;

/**
 * Where a training phase's micro-batches come from: micro-batch {@code index} (optimizer step × accumulation +
 * micro-batch) is a pure function of the index, so a resumed run sees exactly the batches an uninterrupted one
 * would. Packed text rows are one source ({@link #of}); rows generated during training are another.
 */
public interface BatchSource {

    /** The micro-batch at {@code index}. */
    Batch batch(long index);

    /** Micro-batches per pass over the data (what --epochs counts). */
    int batchesPerEpoch();

    /** The pass over the data that micro-batch {@code index} belongs to, from 0. */
    int epochOf(long index);

    /** Rows of {@code data} in a seeded order, {@code batchSize} at a time ({@link BatchSchedule}). */
    static BatchSource of(PackedData data, int batchSize, long seed) {
        BatchSchedule schedule = new BatchSchedule(data.rows(), batchSize, seed);
        return new BatchSource() {
            @Override
            public Batch batch(long index) {
                return Batch.of(data, schedule.rowsOf(index));
            }

            @Override
            public int batchesPerEpoch() {
                return schedule.batchesPerEpoch();
            }

            @Override
            public int epochOf(long index) {
                return schedule.epochOf(index);
            }
        };
    }
}
