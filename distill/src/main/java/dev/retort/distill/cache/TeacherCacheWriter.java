package dev.retort.distill.cache;

import dev.retort.distill.loss.TopK;
import dev.retort.models.Crc32c;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a teacher cache: sequences are appended one at a time, gathered into blocks of about
 * {@code blockBytes}, and each full block is written as one FlatBuffer (see teacher_cache.fbs for the layout).
 *
 * <p>The write is atomic. Everything goes to a hidden temporary file beside the target; {@link #finish()}
 * writes the index, fills in the counts, flushes to disk and renames the file over the target. {@link #close()}
 * without {@code finish()} — an exception in a try-with-resources block — deletes the temporary file, so a
 * failed or killed run never leaves a partial cache under the target's name, and an existing target stays as
 * it was until the rename replaces it whole.
 *
 * <pre>{@code
 * try (TeacherCacheWriter writer = TeacherCacheWriter.create(out, description)) {
 *     for (...) writer.append(tokens, logits);   // tokens [T], logits [T × V]
 *     writer.finish();
 * }
 * }</pre>
 *
 * Not thread-safe: one thread appends. Top-k selection of a sequence's tokens runs on the given pool.
 */
public final class TeacherCacheWriter implements AutoCloseable {
    /** Default block size: large enough that the per-block cost vanishes, small enough to build in memory. */
    public static final long DEFAULT_BLOCK_BYTES = 64L << 20;
    /** Largest block size one may ask for: a FlatBuffer must stay below 2 GB even with one more sequence. */
    public static final long MAX_BLOCK_BYTES = 1L << 30;
    /** Tokens per top-k task: enough work (a few V-long scans) to be worth a hand-off to another thread. */
    private static final int TOKENS_PER_TASK = 8;

    private final Path target;
    private final Path temp;
    private final CacheDescription description;
    private final ThreadPool pool;
    private final long blockBytes;
    private final int vocab;
    private final int k;
    private final int metadataLength;
    private FileChannel channel;
    private long position;            // where the next block goes

    // The block being gathered: s sequences, n tokens.
    private int blockFirstSequence;
    private int blockSequences;
    private int[] starts = new int[16];      // [s + 1]
    private int[] tokens = new int[0];       // [n]
    private int[] topIds = new int[0];       // [n × k]
    private float[] topLogits = new float[0];// [n × k]
    private float[] restLse = new float[0];  // [n]

    // The index: one entry per written block.
    private long[] blockOffsets = new long[16];
    private int[] blockFirstSequences = new int[16];
    private int blocks;

    private final Crc32c blocksChecksum = new Crc32c();   // the blocks written so far, padding included
    private long sequenceCount;
    private long tokenCount;
    private boolean finished;
    private boolean broken;           // an I/O failure left the temporary file unusable

    private TeacherCacheWriter(Path target, CacheDescription description, ThreadPool pool, long blockBytes)
            throws IOException {
        this.target = target;
        this.description = description;
        this.pool = pool;
        this.blockBytes = blockBytes;
        this.vocab = description.vocabSize();
        this.k = description.topK();
        long sequenceBytes = (long) description.sequenceLength()
                * (SequenceBlockTable.TOKEN_BYTES + (long) k * SequenceBlockTable.ENTRY_BYTES);
        if (sequenceBytes + SequenceBlockTable.OVERHEAD_BYTES + 4L * 2 > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(target + ": a sequence of " + description.sequenceLength()
                    + " tokens with top-k " + k + " needs " + sequenceBytes + " bytes, more than one FlatBuffer "
                    + "block can hold (2 GB); use a shorter sequence length or a smaller k");
        }
        Path dir = target.toAbsolutePath().getParent();
        this.temp = dir.resolve("." + target.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
        byte[] metadata = CacheMetadataTable.build(description, 0, 0);
        this.metadataLength = metadata.length;
        this.channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        try {
            ByteBuffer header = header(metadata);
            writeAt(header, 0);
            this.position = header.capacity();
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Refuses, before any work, a {@code target} that a writer could not create: a directory, a path whose
     * directory is missing, or a directory this process cannot write in (tried by creating and deleting a
     * temporary file there, as the writer would). A teacher pass takes hours; its output must not be the first
     * thing to fail.
     *
     * @throws TeacherCacheException naming the target and why
     */
    public static void requireWritable(Path target) {
        if (Files.isDirectory(target)) throw new TeacherCacheException(target, "is a directory; expected the cache file's path");
        Path dir = target.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) throw new TeacherCacheException(target, "its directory " + dir + " does not exist");
        try {
            Files.delete(Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp"));
        } catch (IOException e) {
            throw new TeacherCacheException(target, "cannot write in " + dir + " (" + e + ")", e);
        }
    }

    /** A writer to {@code target} with single-threaded top-k and blocks of {@link #DEFAULT_BLOCK_BYTES}. */
    public static TeacherCacheWriter create(Path target, CacheDescription description) {
        return create(target, description, new ThreadPool(1), DEFAULT_BLOCK_BYTES);
    }

    /**
     * A writer to {@code target}.
     *
     * @param pool runs the top-k selection of {@link #append(int[], float[])}; results do not depend on it
     * @param blockBytes how large a block may grow before it is written (a sequence is never split, so one
     *     larger sequence makes a larger block)
     * @throws TeacherCacheException when the temporary file cannot be created
     */
    public static TeacherCacheWriter create(Path target, CacheDescription description, ThreadPool pool,
                                            long blockBytes) {
        if (blockBytes < 1 || blockBytes > MAX_BLOCK_BYTES) {
            throw new IllegalArgumentException("block bytes must be in [1, " + MAX_BLOCK_BYTES + "], got " + blockBytes);
        }
        try {
            return new TeacherCacheWriter(target, description, pool, blockBytes);
        } catch (IOException e) {
            throw new TeacherCacheException(target, "cannot start writing: " + e, e);
        }
    }

    /**
     * Appends a sequence, selecting each token's top k from the teacher's dense logits.
     *
     * @param tokens [T] the sequence's token ids, 1 &lt;= T &lt;= the description's sequence length
     * @param logits [T × V] (at least) the teacher's raw logits, row t predicting the token after tokens[t]
     * @throws IllegalArgumentException for wrong lengths, ids outside the vocabulary, or a NaN or +inf logit
     *     (the cache is unchanged)
     */
    public void append(int[] tokens, float[] logits) {
        int length = checkSequence(tokens);
        if (logits.length < (long) length * vocab) {
            throw new IllegalArgumentException(target + ": " + length + " tokens need " + (long) length * vocab
                    + " logits (T × V = " + length + " × " + vocab + "), got " + logits.length);
        }
        makeRoom(length);
        int n = starts[blockSequences];
        float temperature = description.temperature();
        int tasks = (length + TOKENS_PER_TASK - 1) / TOKENS_PER_TASK;
        pool.parallelFor(tasks, task -> {
            int end = Math.min(length, (task + 1) * TOKENS_PER_TASK);
            for (int t = task * TOKENS_PER_TASK; t < end; t++) {
                try {
                    restLse[n + t] = TopK.select(logits, t * vocab, vocab, k, temperature,
                            topIds, topLogits, (n + t) * k);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(target + ": sequence " + sequenceCount + ", position "
                            + t + ": " + e.getMessage(), e);
                }
            }
        });
        commitSequence(tokens, length);
    }

    /**
     * Appends a sequence whose top k are already known.
     *
     * @param tokens [T] the token ids
     * @param topIds [T × k] per token, ids by descending logit (ties by ascending id)
     * @param topLogits [T × k] their raw logits, non-increasing within each token
     * @param restLse [T] per token, log Σ_{j ∉ top-k} exp(z_j / T) at the description's temperature
     * @throws IllegalArgumentException for wrong lengths, ids outside the vocabulary or logits out of order
     */
    public void appendTopK(int[] tokens, int[] topIds, float[] topLogits, float[] restLse) {
        int length = checkSequence(tokens);
        long entries = (long) length * k;
        if (topIds.length != entries || topLogits.length != entries || restLse.length != length) {
            throw new IllegalArgumentException(target + ": " + length + " tokens with k = " + k + " need " + entries
                    + " top ids, " + entries + " top logits and " + length + " rest LSEs, got " + topIds.length
                    + ", " + topLogits.length + " and " + restLse.length);
        }
        for (int t = 0; t < length; t++) {
            for (int j = 0; j < k; j++) {
                int e = t * k + j;
                if (topIds[e] < 0 || topIds[e] >= vocab) {
                    throw new IllegalArgumentException(target + ": position " + t + " has top id " + topIds[e]
                            + " outside the vocabulary [0, " + vocab + ")");
                }
                if (j > 0 && !(topLogits[e] <= topLogits[e - 1])) {
                    throw new IllegalArgumentException(target + ": position " + t + " has top logits out of order ("
                            + topLogits[e - 1] + " then " + topLogits[e] + "); expected descending");
                }
            }
        }
        makeRoom(length);
        int n = starts[blockSequences];
        System.arraycopy(topIds, 0, this.topIds, n * k, (int) entries);
        System.arraycopy(topLogits, 0, this.topLogits, n * k, (int) entries);
        System.arraycopy(restLse, 0, this.restLse, n, length);
        commitSequence(tokens, length);
    }

    /**
     * Appends every sequence of {@code source}, in order, as stored: caches written in pieces (one per Spark
     * partition, say) and copied in order into one writer make the file one writer over all the sequences makes,
     * byte for byte.
     *
     * @throws TeacherCacheException when {@code source} was made from another teacher, data or settings
     */
    public void appendAll(TeacherCache source) {
        if (!source.description().equals(description)) {
            throw new TeacherCacheException(source.file(), "was made with " + source.description() + "; expected "
                    + description);
        }
        for (int s = 0; s < source.sequenceCount(); s++) {
            SequenceTopK top = source.topK(s);
            appendTopK(source.tokens(s), top.ids(), top.logits(), top.restLse());
        }
    }

    /** Sequences appended so far. */
    public long sequenceCount() {
        return sequenceCount;
    }

    /** Tokens appended so far. */
    public long tokenCount() {
        return tokenCount;
    }

    /**
     * Writes the last block, the index and the final counts, flushes everything to disk and renames the file
     * to the target, replacing any file there.
     */
    public void finish() {
        if (finished) throw new IllegalStateException(target + ": the cache is already finished");
        if (broken) throw new IllegalStateException(target + ": an earlier write failed; the cache cannot be finished");
        try {
            if (blockSequences > 0) writeBlock();
            byte[] metadata = CacheMetadataTable.build(description, sequenceCount, tokenCount);
            if (metadata.length != metadataLength) {
                throw new IllegalStateException("metadata changed length from " + metadataLength + " to "
                        + metadata.length + " bytes; it is rewritten in place and must not");
            }
            ByteBuffer header = header(metadata);
            long checksum = blocksChecksum.update(header).value();   // blocks, then header: CacheFileLayout
            writeAt(header, 0);

            long indexOffset = position;
            ByteBuffer index = BlockIndexTable.build(blockOffsets, blockFirstSequences, blocks, checksum);
            position = CacheFileLayout.align(position + writeAt(index, position));
            ByteBuffer trailer = ByteBuffer.allocate(CacheFileLayout.TRAILER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            trailer.putLong(indexOffset).putInt(CacheFileLayout.END_MARKER);
            writeAt(trailer.flip(), position);
            channel.force(true);
            channel.close();
            Path dir = target.toAbsolutePath().getParent();
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new TeacherCacheException(target, "the file system cannot rename atomically, so the cache "
                        + "cannot be replaced safely", e);
            }
            finished = true;
            syncDirectory(dir);
        } catch (IOException e) {
            broken = true;
            throw new TeacherCacheException(target, "cannot write: " + e, e);
        } catch (RuntimeException e) {
            broken = true;
            throw e;
        }
    }

    /** Releases the file; without a {@link #finish()} before, deletes the temporary file and leaves the target alone. */
    @Override
    public void close() {
        try {
            if (channel.isOpen()) channel.close();
        } catch (IOException ignored) {
            // Closing only matters to the deletion below.
        }
        if (!finished) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // A leftover hidden .tmp file is harmless; the original failure matters more.
            }
        }
    }

    /** Checks a sequence's token ids and returns its length. */
    private int checkSequence(int[] tokens) {
        if (finished) throw new IllegalStateException(target + ": the cache is already finished");
        if (broken) throw new IllegalStateException(target + ": an earlier write failed; nothing more can be added");
        int length = tokens.length;
        if (length < 1 || length > description.sequenceLength()) {
            throw new IllegalArgumentException(target + ": a sequence of " + length + " tokens; expected 1 to "
                    + description.sequenceLength());
        }
        if (sequenceCount >= Integer.MAX_VALUE) {
            throw new IllegalStateException(target + ": a cache holds at most " + Integer.MAX_VALUE + " sequences");
        }
        for (int t = 0; t < length; t++) {
            if (tokens[t] < 0 || tokens[t] >= vocab) {
                throw new IllegalArgumentException(target + ": token " + t + " is id " + tokens[t]
                        + ", outside the vocabulary [0, " + vocab + ")");
            }
        }
        return length;
    }

    /** Writes the block when another {@code length} tokens would take it past its size; then grows the arrays. */
    private void makeRoom(int length) {
        int n = starts[blockSequences];
        long perToken = SequenceBlockTable.TOKEN_BYTES + (long) k * SequenceBlockTable.ENTRY_BYTES;
        if (blockSequences > 0 && (long) (n + length) * perToken > blockBytes) {
            try {
                writeBlock();
            } catch (IOException e) {
                broken = true;
                throw new TeacherCacheException(target, "cannot write: " + e, e);
            }
            n = 0;
        }
        int needed = n + length;
        if (tokens.length < needed) {
            int capacity = (int) Math.min(Integer.MAX_VALUE / Math.max(1, k), Math.max(needed, 2L * tokens.length));
            tokens = Arrays.copyOf(tokens, capacity);
            restLse = Arrays.copyOf(restLse, capacity);
            topIds = Arrays.copyOf(topIds, capacity * k);
            topLogits = Arrays.copyOf(topLogits, capacity * k);
        }
        if (starts.length < blockSequences + 2) starts = Arrays.copyOf(starts, 2 * starts.length);
    }

    /** Records a sequence whose top-k data is already in place after the block's last token. */
    private void commitSequence(int[] sequenceTokens, int length) {
        int n = starts[blockSequences];
        System.arraycopy(sequenceTokens, 0, tokens, n, length);
        starts[++blockSequences] = n + length;
        sequenceCount++;
        tokenCount += length;
    }

    private void writeBlock() throws IOException {
        ByteBuffer block = SequenceBlockTable.build(blockFirstSequence, starts, blockSequences, tokens, topIds,
                topLogits, restLse, k);
        if (blocks == blockOffsets.length) {
            blockOffsets = Arrays.copyOf(blockOffsets, 2 * blocks);
            blockFirstSequences = Arrays.copyOf(blockFirstSequences, 2 * blocks);
        }
        blockOffsets[blocks] = position;
        blockFirstSequences[blocks] = blockFirstSequence;
        blocks++;
        blocksChecksum.update(block);
        long end = position + writeAt(block, position);
        position = CacheFileLayout.align(end);
        blocksChecksum.updateZeros(position - end);
        blockFirstSequence += blockSequences;
        blockSequences = 0;
    }

    /** Magic, version, metadata length and metadata, zero padded to where the blocks start. */
    private static ByteBuffer header(byte[] metadata) {
        ByteBuffer header = ByteBuffer.allocate(Math.toIntExact(CacheFileLayout.align(
                CacheFileLayout.HEADER_BYTES + metadata.length))).order(ByteOrder.LITTLE_ENDIAN);
        header.putInt(CacheFileLayout.MAGIC).putInt(CacheFileLayout.VERSION).putInt(metadata.length).put(metadata);
        return header.clear();
    }

    /** Writes all of {@code data} at {@code at}; returns the bytes written. */
    private int writeAt(ByteBuffer data, long at) throws IOException {
        int bytes = data.remaining();
        for (long p = at; data.hasRemaining(); ) p += channel.write(data, p);
        return bytes;
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // Best effort: the data itself is already on disk.
        }
    }
}
