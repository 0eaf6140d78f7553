package dev.retort.distill.cache;

import com.google.flatbuffers.FlatBufferBuilder;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** The {@code CacheMetadata} table of teacher_cache.fbs: built by the writer, read (checked) by the reader. */
final class CacheMetadataTable {
    // Field ids, as in the schema.
    private static final int TEACHER_NAME = 0;
    private static final int TEACHER_PATH = 1;
    private static final int VOCAB_SIZE = 2;
    private static final int TOP_K = 3;
    private static final int TEMPERATURE = 4;
    private static final int SEQUENCE_LENGTH = 5;
    private static final int SEQUENCE_COUNT = 6;
    private static final int TOKEN_COUNT = 7;
    private static final int TOKENIZER_HASH = 8;
    private static final int DATA_NAME = 9;
    private static final int DATA_HASH = 10;
    private static final int FIELDS = 11;

    private CacheMetadataTable() {}

    /**
     * The metadata as a FlatBuffer (not size-prefixed). Every field is written even when it equals its
     * default, so the length does not depend on the counts: the writer puts a copy with zero counts at the
     * start of the file and overwrites it in place with the final counts.
     */
    static byte[] build(CacheDescription d, long sequenceCount, long tokenCount) {
        FlatBufferBuilder b = new FlatBufferBuilder(512).forceDefaults(true);
        int teacherName = b.createString(d.teacherName());
        int teacherPath = b.createString(d.teacherPath());
        int tokenizerHash = b.createString(d.tokenizerHash());
        int dataName = b.createString(d.dataName());
        int dataHash = b.createString(d.dataHash());
        b.startTable(FIELDS);
        b.addLong(SEQUENCE_COUNT, sequenceCount, 0);
        b.addLong(TOKEN_COUNT, tokenCount, 0);
        b.addOffset(TEACHER_NAME, teacherName, 0);
        b.addOffset(TEACHER_PATH, teacherPath, 0);
        b.addInt(VOCAB_SIZE, d.vocabSize(), 0);
        b.addInt(TOP_K, d.topK(), 0);
        b.addFloat(TEMPERATURE, d.temperature(), 0);
        b.addInt(SEQUENCE_LENGTH, d.sequenceLength(), 0);
        b.addOffset(TOKENIZER_HASH, tokenizerHash, 0);
        b.addOffset(DATA_NAME, dataName, 0);
        b.addOffset(DATA_HASH, dataHash, 0);
        b.finish(b.endTable());
        return b.sizedByteArray();
    }

    /** Reads and validates the metadata FlatBuffer in {@code buffer[0, limit)}. */
    static CacheMetadata read(ByteBuffer buffer, Path file) {
        CheckedTable t = CheckedTable.root(buffer, file, "the metadata");
        String teacherName = orEmpty(t.getString(TEACHER_NAME, "teacher_name"));
        String teacherPath = orEmpty(t.getString(TEACHER_PATH, "teacher_path"));
        String tokenizerHash = orEmpty(t.getString(TOKENIZER_HASH, "tokenizer_hash"));
        String dataName = orEmpty(t.getString(DATA_NAME, "data_name"));
        String dataHash = orEmpty(t.getString(DATA_HASH, "data_hash"));
        long sequenceCount = t.getLong(SEQUENCE_COUNT, 0);
        long tokenCount = t.getLong(TOKEN_COUNT, 0);
        if (sequenceCount < 0 || sequenceCount > Integer.MAX_VALUE) {
            throw t.corrupt("sequence_count " + sequenceCount + " is outside [0, " + Integer.MAX_VALUE + "]");
        }
        if (tokenCount < sequenceCount) {
            throw t.corrupt("token_count " + tokenCount + " is below sequence_count " + sequenceCount);
        }
        CacheDescription description;
        try {
            description = new CacheDescription(teacherName, teacherPath, t.getInt(VOCAB_SIZE, 0), t.getInt(TOP_K, 0),
                    t.getFloat(TEMPERATURE, 0), t.getInt(SEQUENCE_LENGTH, 0), tokenizerHash, dataName, dataHash);
        } catch (IllegalArgumentException e) {
            throw t.corrupt(e.getMessage());
        }
        return new CacheMetadata(description, sequenceCount, tokenCount);
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }
}
