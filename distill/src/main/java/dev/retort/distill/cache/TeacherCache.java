package dev.retort.distill.cache;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Reads a teacher cache written by {@link TeacherCacheWriter}: the metadata, and per sequence its token ids and
 * its tokens' top-k ids, logits and rest log-sum-exps.
 *
 * <p>The file is memory-mapped, never copied onto the heap. Opening reads the header, the metadata, the trailer
 * and the block index, and sums every byte before the index against the recorded CRC-32C (a version 2 file),
 * so a damaged cache is refused before training starts; a block is parsed only when one of its sequences is
 * asked for, and then only its table, its vector lengths, its sequence starts and the asked-for sequence's
 * data. Every offset is checked before use: a damaged or truncated file gives a {@link TeacherCacheException}
 * whose one-line message names the file.
 *
 * <p>Safe to use from several threads at once (reads are absolute; the per-block views are immutable).
 * Closing unmaps the file; using the cache afterwards throws {@link IllegalStateException}.
 */
public final class TeacherCache implements AutoCloseable {
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final Arena arena;
    private final MemorySegment mapped;
    private final CacheMetadata metadata;
    private final int sequenceCount;
    private final long[] blockOffsets;
    private final int[] blockFirstSequences;
    private final long[] blockEnds;      // where each block's bytes must end: the next block, or the index
    private final AtomicReferenceArray<SequenceBlockTable> openedBlocks;

    private TeacherCache(Path file, Arena arena, MemorySegment mapped) {
        this.file = file;
        this.arena = arena;
        this.mapped = mapped;
        long size = mapped.byteSize();
        if (size >= 4 && mapped.get(INT, 0) != CacheFileLayout.MAGIC) {
            throw error("not a teacher cache: starts with " + CacheFileLayout.fourBytes(mapped.get(INT, 0))
                    + " instead of \"RTKC\"");
        }
        if (size < CacheFileLayout.HEADER_BYTES) throw error("truncated: " + size + " bytes, shorter than the header");
        int version = mapped.get(INT, 4);
        if (version != CacheFileLayout.VERSION && version != CacheFileLayout.VERSION_WITHOUT_CHECKSUM) {
            throw error("format version " + Integer.toUnsignedString(version) + "; this Retort reads versions "
                    + CacheFileLayout.VERSION_WITHOUT_CHECKSUM + " and " + CacheFileLayout.VERSION);
        }
        long metadataLength = Integer.toUnsignedLong(mapped.get(INT, 8));
        long dataStart = CacheFileLayout.align(CacheFileLayout.HEADER_BYTES + metadataLength);
        if (dataStart + CacheFileLayout.TRAILER_BYTES > size) {
            throw error("truncated: " + size + " bytes, but the header promises " + metadataLength
                    + " bytes of metadata and a trailer after it");
        }
        int end = mapped.get(INT, size - 4);
        if (end != CacheFileLayout.END_MARKER) {
            throw error("truncated or unfinished: the last 4 bytes are " + CacheFileLayout.fourBytes(end)
                    + ", not the end marker \"RTKE\"");
        }
        this.metadata = CacheMetadataTable.read(slice(CacheFileLayout.HEADER_BYTES, metadataLength), file);
        this.sequenceCount = (int) metadata.sequenceCount();

        long indexOffset = mapped.get(LONG, size - CacheFileLayout.TRAILER_BYTES);
        long indexLimit = size - CacheFileLayout.TRAILER_BYTES;
        if (indexOffset < dataStart || indexOffset > indexLimit - 4 || indexOffset % CacheFileLayout.ALIGNMENT != 0) {
            throw error("the trailer's index offset " + indexOffset + " is not an aligned position in ["
                    + dataStart + ", " + (indexLimit - 4) + "]");
        }
        long indexLength = Integer.toUnsignedLong(mapped.get(INT, indexOffset));
        if (indexOffset + 4 + indexLength > indexLimit) {
            throw error("the block index of " + indexLength + " bytes at " + indexOffset + " runs into the trailer");
        }
        BlockIndexTable index = BlockIndexTable.read(slice(indexOffset + 4, indexLength), file);
        if (version != CacheFileLayout.VERSION_WITHOUT_CHECKSUM) checkChecksum(index.checksum(), dataStart, indexOffset);
        this.blockOffsets = index.blockOffsets();
        this.blockFirstSequences = index.firstSequences();
        this.blockEnds = checkIndex(dataStart, indexOffset);
        this.openedBlocks = new AtomicReferenceArray<>(blockOffsets.length);
    }

    /** Refuses a file whose bytes before the index are not those the writer summed (a flipped bit anywhere). */
    private void checkChecksum(long recorded, long dataStart, long indexOffset) {
        if (recorded == BlockIndexTable.NO_CHECKSUM) {
            throw error("has no checksum in its block index, which version " + CacheFileLayout.VERSION
                    + " requires; re-run cache-teacher to make it again");
        }
        long actual = CacheFileLayout.checksum(mapped, dataStart, indexOffset);
        if (actual != recorded) {
            throw error(String.format("its contents do not match its checksum (CRC-32C %08x, recorded %08x): damaged "
                    + "on disk or in a copy; re-run cache-teacher or use an intact copy", actual, recorded));
        }
    }

    /**
     * Opens a cache.
     *
     * @throws TeacherCacheException when the file is missing, unreadable, truncated, corrupt or of another
     *     format version
     */
    public static TeacherCache open(Path file) {
        dev.retort.models.InputFiles.requireRegularFile(file, TeacherCacheException::new);
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapped;
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            }
            return new TeacherCache(file, arena, mapped);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new TeacherCacheException(file, "no such file", e);
        } catch (IOException e) {
            arena.close();
            throw new TeacherCacheException(file, "cannot read: " + e, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Opens a cache and checks that its token ids come from the vocabulary with {@code tokenizerHash}
     * ({@link CacheHashes#vocabulary}).
     */
    public static TeacherCache open(Path file, String tokenizerHash) {
        TeacherCache cache = open(file);
        try {
            cache.requireTokenizerHash(tokenizerHash);
            return cache;
        } catch (RuntimeException e) {
            cache.close();
            throw e;
        }
    }

    public Path file() {
        return file;
    }

    public CacheMetadata metadata() {
        return metadata;
    }

    /** Shorthand for {@code metadata().description()}. */
    public CacheDescription description() {
        return metadata.description();
    }

    public int sequenceCount() {
        return sequenceCount;
    }

    /** k: the logits kept per token. */
    public int topK() {
        return metadata.description().topK();
    }

    /** Refuses a cache made with another vocabulary than the one hashing to {@code expected}. */
    public void requireTokenizerHash(String expected) {
        String actual = description().tokenizerHash();
        if (!actual.equals(expected)) {
            throw error("made with another tokenizer (vocabulary hash " + actual + "); expected " + expected);
        }
    }

    /** Refuses a cache over a vocabulary of another size than the model's. */
    public void requireVocabSize(int vocabSize) {
        if (description().vocabSize() != vocabSize) {
            throw error("holds logits over a vocabulary of " + description().vocabSize() + " ids; expected "
                    + vocabSize);
        }
    }

    /** Refuses a cache that does not keep exactly {@code k} logits per token. */
    public void requireTopK(int k) {
        if (topK() != k) throw error("keeps the top " + topK() + " logits per token; expected " + k);
    }

    /** The number of tokens in a sequence. */
    public int sequenceLength(int sequence) {
        return block(sequence).sequenceLength(sequence);
    }

    /** A sequence's token ids, [T]. */
    public int[] tokens(int sequence) {
        SequenceBlockTable block = block(sequence);
        int[] out = new int[block.sequenceLength(sequence)];
        block.tokens(sequence, out, description().vocabSize());
        return out;
    }

    /** Copies a sequence's token ids to {@code out[0, T)} and returns T. */
    public int tokens(int sequence, int[] out) {
        SequenceBlockTable block = block(sequence);
        int length = block.sequenceLength(sequence);
        checkRoom("out", out.length, length);
        block.tokens(sequence, out, description().vocabSize());
        return length;
    }

    /** A sequence's top-k ids [T × k], logits [T × k] and rest log-sum-exps [T]. */
    public SequenceTopK topK(int sequence) {
        SequenceBlockTable block = block(sequence);
        int length = block.sequenceLength(sequence);
        int k = topK();
        SequenceTopK result = new SequenceTopK(k, new int[length * k], new float[length * k], new float[length]);
        block.topK(sequence, result.ids(), result.logits(), result.restLse(), description().vocabSize());
        return result;
    }

    /**
     * Copies a sequence's top-k data into caller-provided arrays (reusable across sequences) and returns T.
     *
     * @param idsOut receives [T × k] ids, per token by descending logit, ties by ascending id
     * @param logitsOut receives [T × k] raw logits
     * @param restLseOut receives [T] rest log-sum-exps at the metadata's temperature
     */
    public int topK(int sequence, int[] idsOut, float[] logitsOut, float[] restLseOut) {
        SequenceBlockTable block = block(sequence);
        int length = block.sequenceLength(sequence);
        int entries = length * topK();
        checkRoom("idsOut", idsOut.length, entries);
        checkRoom("logitsOut", logitsOut.length, entries);
        checkRoom("restLseOut", restLseOut.length, length);
        block.topK(sequence, idsOut, logitsOut, restLseOut, description().vocabSize());
        return length;
    }

    /** Blocks in the file (for tests and diagnostics). */
    int blockCount() {
        return blockOffsets.length;
    }

    /** File offset of a block's size prefix (for tests and diagnostics). */
    long blockOffset(int block) {
        return blockOffsets[block];
    }

    /** The block holding a sequence (for tests and diagnostics). */
    int blockOf(int sequence) {
        int b = Arrays.binarySearch(blockFirstSequences, sequence);
        return b < 0 ? -b - 2 : b;
    }

    /** Unmaps the file. */
    @Override
    public void close() {
        arena.close();
    }

    /** The opened block holding {@code sequence}, opening (and checking) it on first use. */
    private SequenceBlockTable block(int sequence) {
        if (sequence < 0 || sequence >= sequenceCount) {
            throw error("sequence " + sequence + " is out of range; the cache holds " + sequenceCount
                    + " (0 to " + (sequenceCount - 1) + ")");
        }
        int b = blockOf(sequence); // the last block starting at or before the sequence
        SequenceBlockTable block = openedBlocks.get(b);
        if (block == null) {
            block = openBlock(b);
            openedBlocks.compareAndSet(b, null, block); // a racing thread built an identical one: either will do
        }
        return block;
    }

    private SequenceBlockTable openBlock(int b) {
        long offset = blockOffsets[b];
        String what = "block " + b + " (at byte " + offset + ")";
        long length = Integer.toUnsignedLong(mapped.get(INT, offset));
        if (offset + 4 + length > blockEnds[b]) {
            throw error(what + " is corrupt: its " + length + " bytes run past where the next part of the file starts ("
                    + blockEnds[b] + ")");
        }
        int next = b + 1 < blockFirstSequences.length ? blockFirstSequences[b + 1] : sequenceCount;
        return new SequenceBlockTable(slice(offset + 4, length), file, what, blockFirstSequences[b],
                next - blockFirstSequences[b], topK(), description().sequenceLength());
    }

    /** Checks the index against the file and the metadata; returns where each block must end. */
    private long[] checkIndex(long dataStart, long indexOffset) {
        int blocks = blockOffsets.length;
        if (blocks == 0 && sequenceCount > 0) {
            throw error("the block index is empty but the metadata counts " + sequenceCount + " sequences");
        }
        long[] ends = new long[blocks];
        for (int b = 0; b < blocks; b++) {
            long offset = blockOffsets[b];
            long previousEnd = b == 0 ? dataStart : blockOffsets[b - 1] + 4;
            if (offset < previousEnd || offset > indexOffset - 4 || offset % CacheFileLayout.ALIGNMENT != 0) {
                throw error("the block index puts block " + b + " at byte " + offset
                        + ", not an aligned position after the previous block and before the index");
            }
            int first = blockFirstSequences[b];
            int expectedMin = b == 0 ? 0 : blockFirstSequences[b - 1] + 1;
            if ((b == 0 && first != 0) || first < expectedMin || first >= sequenceCount) {
                throw error("the block index says block " + b + " starts at sequence " + first
                        + "; expected " + (b == 0 ? "0" : "a sequence after " + blockFirstSequences[b - 1]
                        + " and below " + sequenceCount));
            }
            if (b > 0) ends[b - 1] = offset;
        }
        if (blocks > 0) ends[blocks - 1] = indexOffset;
        return ends;
    }

    private java.nio.ByteBuffer slice(long offset, long length) {
        if (length > Integer.MAX_VALUE) {
            throw error("a FlatBuffer of " + length + " bytes at " + offset + " is larger than FlatBuffers allow");
        }
        return mapped.asSlice(offset, length).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    private void checkRoom(String name, int have, int need) {
        if (have < need) {
            throw new IllegalArgumentException(file + ": " + name + " holds " + have + " values; the sequence needs "
                    + need);
        }
    }

    private TeacherCacheException error(String problem) {
        return new TeacherCacheException(file, problem);
    }
}
