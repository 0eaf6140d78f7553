package dev.retort.distill.cache;

import com.google.flatbuffers.FlatBufferBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The {@code SequenceBlock} table of teacher_cache.fbs: a run of whole sequences with, per token, the
 * teacher's top-k ids and logits and the rest's log-sum-exp. Built by the writer; read by the reader, which
 * checks the block's structure once when it is first opened and copies one sequence's data at a time.
 */
final class SequenceBlockTable {
    // Field ids, as in the schema.
    private static final int FIRST_SEQUENCE = 0;
    private static final int SEQUENCE_STARTS = 1;
    private static final int TOKENS = 2;
    private static final int TOP_IDS = 3;
    private static final int TOP_LOGITS = 4;
    private static final int REST_LSE = 5;
    private static final int FIELDS = 6;

    /** Bytes per token in a block beyond its k ids and logits: its id and its rest log-sum-exp. */
    static final int TOKEN_BYTES = 8;
    /** Bytes per top-k entry: an int32 id and a float32 logit. */
    static final int ENTRY_BYTES = 8;
    /** Generous room for the size prefix, root offset, table, vtable, vector lengths and alignment. */
    static final int OVERHEAD_BYTES = 256;

    private final CheckedTable table;
    private final int k;
    private final int firstSequence;
    private final int[] starts;       // [s + 1], validated: 0, strictly ascending
    private final CheckedTable.Vector tokens;
    private final CheckedTable.Vector topIds;
    private final CheckedTable.Vector topLogits;
    private final CheckedTable.Vector restLse;

    /**
     * The block's data as a size-prefixed FlatBuffer, ready to be written from its position to its limit.
     * Arrays hold {@code sequences} sequences and {@code n = starts[sequences]} tokens; {@code ids} and
     * {@code logits} hold n × k entries.
     */
    static ByteBuffer build(int firstSequence, int[] starts, int sequences, int[] tokens, int[] ids, float[] logits,
                            float[] restLse, int k) {
        int n = starts[sequences];
        long entries = (long) n * k;
        long bytes = 4L * (sequences + 1) + (long) n * TOKEN_BYTES + entries * ENTRY_BYTES + OVERHEAD_BYTES;
        FlatBufferBuilder b = new FlatBufferBuilder(Math.toIntExact(bytes)).forceDefaults(true);
        // Vectors go in before the table (FlatBuffers builds back to front: these end up after it).
        int restVector = floatVector(b, restLse, n);
        int logitVector = floatVector(b, logits, Math.toIntExact(entries));
        int idVector = intVector(b, ids, Math.toIntExact(entries));
        int tokenVector = intVector(b, tokens, n);
        int startVector = intVector(b, starts, sequences + 1);
        b.startTable(FIELDS);
        b.addInt(FIRST_SEQUENCE, firstSequence, 0);
        b.addOffset(SEQUENCE_STARTS, startVector, 0);
        b.addOffset(TOKENS, tokenVector, 0);
        b.addOffset(TOP_IDS, idVector, 0);
        b.addOffset(TOP_LOGITS, logitVector, 0);
        b.addOffset(REST_LSE, restVector, 0);
        b.finishSizePrefixed(b.endTable());
        return b.dataBuffer();
    }

    private static int intVector(FlatBufferBuilder b, int[] values, int length) {
        b.createUnintializedVector(4, length, 4).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().put(values, 0, length);
        return b.endVector();
    }

    private static int floatVector(FlatBufferBuilder b, float[] values, int length) {
        b.createUnintializedVector(4, length, 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(values, 0, length);
        return b.endVector();
    }

    /**
     * Opens the block FlatBuffer in {@code buffer[0, limit)} and checks it against what the index and the
     * metadata say it must hold: {@code sequences} sequences from {@code expectedFirst}, each of 1 to
     * {@code maxLength} tokens, with k entries per token. Reads the table, the vector lengths and the
     * sequence starts; no token data.
     */
    SequenceBlockTable(ByteBuffer buffer, Path file, String what, int expectedFirst, int sequences, int k,
                       int maxLength) {
        this.table = CheckedTable.root(buffer, file, what);
        this.k = k;
        this.firstSequence = table.getInt(FIRST_SEQUENCE, 0);
        if (firstSequence != expectedFirst) {
            throw table.corrupt("it starts at sequence " + firstSequence + " but the index says " + expectedFirst);
        }
        CheckedTable.Vector startVector = required(SEQUENCE_STARTS, 4, "sequence_starts");
        if (startVector.length() != sequences + 1) {
            throw table.corrupt("sequence_starts has " + startVector.length() + " entries; expected "
                    + (sequences + 1) + " for " + sequences + " sequences");
        }
        this.starts = new int[sequences + 1];
        ints(startVector, 0, starts, 0, sequences + 1);
        if (starts[0] != 0) throw table.corrupt("sequence_starts begins at " + starts[0] + ", not 0");
        for (int s = 0; s < sequences; s++) {
            long length = (long) starts[s + 1] - starts[s];
            if (length < 1 || length > maxLength) {
                throw table.corrupt("sequence " + (firstSequence + s) + " has " + length
                        + " tokens; expected 1 to " + maxLength);
            }
        }
        int n = starts[sequences];
        long entries = (long) n * k;
        this.tokens = required(TOKENS, 4, "tokens");
        this.topIds = required(TOP_IDS, 4, "top_ids");
        this.topLogits = required(TOP_LOGITS, 4, "top_logits");
        this.restLse = required(REST_LSE, 4, "rest_lse");
        checkLength(tokens, n, "tokens", "n");
        checkLength(restLse, n, "rest_lse", "n");
        checkLength(topIds, entries, "top_ids", "n × k = " + n + " × " + k);
        checkLength(topLogits, entries, "top_logits", "n × k = " + n + " × " + k);
    }

    int sequenceLength(int sequence) {
        int s = sequence - firstSequence;
        return starts[s + 1] - starts[s];
    }

    /** Copies a sequence's token ids to {@code out[0, length)}, checking each is below {@code vocab}. */
    void tokens(int sequence, int[] out, int vocab) {
        int s = sequence - firstSequence;
        int length = starts[s + 1] - starts[s];
        ints(tokens, starts[s], out, 0, length);
        checkIds(out, length, vocab, sequence, "token id");
    }

    /** Copies a sequence's top-k ids, logits and rest log-sum-exps; the arrays hold at least length × k. */
    void topK(int sequence, int[] idsOut, float[] logitsOut, float[] restLseOut, int vocab) {
        int s = sequence - firstSequence;
        int length = starts[s + 1] - starts[s];
        int entries = length * k;
        ints(topIds, starts[s] * k, idsOut, 0, entries);
        checkIds(idsOut, entries, vocab, sequence, "top-k id");
        floats(topLogits, starts[s] * k, logitsOut, 0, entries);
        floats(restLse, starts[s], restLseOut, 0, length);
    }

    private void checkIds(int[] ids, int count, int vocab, int sequence, String name) {
        for (int i = 0; i < count; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw table.corrupt("sequence " + sequence + " has " + name + " " + ids[i]
                        + " outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    private CheckedTable.Vector required(int id, int elementSize, String name) {
        CheckedTable.Vector v = table.vector(id, elementSize, name);
        if (v == null) throw table.corrupt(name + " is missing");
        return v;
    }

    private void checkLength(CheckedTable.Vector v, long expected, String name, String formula) {
        if (v.length() != expected) {
            throw table.corrupt(name + " has " + v.length() + " entries; expected " + formula + " = " + expected);
        }
    }

    private void ints(CheckedTable.Vector v, int from, int[] out, int outOffset, int count) {
        table.buffer().slice(v.position() + 4 * from, 4 * count).order(ByteOrder.LITTLE_ENDIAN)
                .asIntBuffer().get(out, outOffset, count);
    }

    private void floats(CheckedTable.Vector v, int from, float[] out, int outOffset, int count) {
        table.buffer().slice(v.position() + 4 * from, 4 * count).order(ByteOrder.LITTLE_ENDIAN)
                .asFloatBuffer().get(out, outOffset, count);
    }
}
