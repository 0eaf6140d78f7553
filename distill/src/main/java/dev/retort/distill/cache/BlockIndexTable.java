package dev.retort.distill.cache;

import com.google.flatbuffers.FlatBufferBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * The {@code BlockIndex} table of teacher_cache.fbs: where each block starts in the file and which sequence it
 * starts with, and the checksum of everything before the index. Small (two numbers per block), so the reader
 * copies it into arrays when it opens the file.
 *
 * @param blockOffsets [b]: file offset of each block's size prefix
 * @param firstSequences [b]: each block's first sequence
 * @param checksum the CRC-32C of {@link CacheFileLayout#checksum}, or {@link #NO_CHECKSUM} (a version 1 file)
 */
record BlockIndexTable(long[] blockOffsets, int[] firstSequences, long checksum) {
    static final long NO_CHECKSUM = -1;
    // Field ids, as in the schema.
    private static final int BLOCK_OFFSETS = 0;
    private static final int FIRST_SEQUENCES = 1;
    private static final int CHECKSUM = 2;
    private static final int FIELDS = 3;

    /** The index of the first {@code blocks} entries as a size-prefixed FlatBuffer, ready to write. */
    static ByteBuffer build(long[] blockOffsets, int[] firstSequences, int blocks, long checksum) {
        FlatBufferBuilder b = new FlatBufferBuilder(12 * blocks + 128).forceDefaults(true);
        b.createUnintializedVector(4, blocks, 4).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer()
                .put(firstSequences, 0, blocks);
        int firsts = b.endVector();
        b.createUnintializedVector(8, blocks, 8).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer()
                .put(blockOffsets, 0, blocks);
        int offsets = b.endVector();
        b.startTable(FIELDS);
        b.addOffset(BLOCK_OFFSETS, offsets, 0);
        b.addOffset(FIRST_SEQUENCES, firsts, 0);
        b.addLong(CHECKSUM, checksum, NO_CHECKSUM);
        b.finishSizePrefixed(b.endTable());
        return b.dataBuffer();
    }

    /** Reads the index FlatBuffer in {@code buffer[0, limit)}; the caller checks the values against the file. */
    static BlockIndexTable read(ByteBuffer buffer, Path file) {
        CheckedTable t = CheckedTable.root(buffer, file, "the block index");
        CheckedTable.Vector offsets = t.vector(BLOCK_OFFSETS, 8, "block_offsets");
        CheckedTable.Vector firsts = t.vector(FIRST_SEQUENCES, 4, "first_sequences");
        int blocks = offsets == null ? 0 : offsets.length();
        if ((firsts == null ? 0 : firsts.length()) != blocks) {
            throw t.corrupt("it has " + blocks + " block offsets but " + (firsts == null ? 0 : firsts.length())
                    + " first sequences");
        }
        long[] blockOffsets = new long[blocks];
        int[] firstSequences = new int[blocks];
        if (blocks > 0) {
            buffer.slice(offsets.position(), 8 * blocks).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(blockOffsets);
            buffer.slice(firsts.position(), 4 * blocks).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(firstSequences);
        }
        return new BlockIndexTable(blockOffsets, firstSequences, t.getLong(CHECKSUM, NO_CHECKSUM));
    }
}
