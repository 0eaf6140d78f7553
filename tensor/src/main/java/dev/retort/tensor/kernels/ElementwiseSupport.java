package dev.retort.tensor.kernels;

import dev.retort.tensor.DType;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.MemorySegment;

/**
 * What the scalar and SIMD {@link Elementwise} kernels share: argument checks and the way work is cut into
 * tasks. Both implementations cut every problem the same way, and the cut depends only on the problem's sizes
 * (never on the thread count), so every result is bitwise identical for any number of threads.
 *
 * <p>Three kinds of cut:
 * <ul>
 *   <li>element-wise ops: [0, n) in {@link #elementTasks} equal ranges of at least {@link #ELEMENT_GRAIN}
 *       elements; each element's result does not depend on the cut at all;
 *   <li>reductions: fixed chunks of {@link #REDUCTION_CHUNK} elements, partials combined in chunk order; a sum
 *       of n ≤ one chunk is computed by exactly the code a single chunk of a longer sum runs;
 *   <li>row-wise ops: blocks of whole rows with at least {@link #ROW_GRAIN} elements per task.
 * </ul>
 */
public final class ElementwiseSupport {
    private ElementwiseSupport() {}

    /**
     * Elements per task for streaming element-wise ops. 32K floats (128 KiB per operand) keep a task well
     * above the pool's hand-off cost of a few microseconds, so small inputs stay on the calling thread.
     */
    public static final int ELEMENT_GRAIN = 1 << 15;

    /** Elements per reduction chunk; fixed so that the summation order is a property of n alone. */
    public static final int REDUCTION_CHUNK = 1 << 15;

    /** Elements (rows × cols) per task for row-wise kernels (softmax, RMSNorm, RoPE, embeddings). */
    public static final int ROW_GRAIN = 1 << 14;

    /** The most tasks one call is cut into; more would only add bookkeeping. */
    public static final int MAX_TASKS = 1024;

    // ---- task cuts ------------------------------------------------------------------------------------

    /** Number of tasks for an element-wise op over n elements. */
    public static int elementTasks(long n) {
        return ThreadPool.tasksFor(n, ELEMENT_GRAIN, MAX_TASKS);
    }

    /**
     * Start of task {@code task}'s range when [0, n) is cut into {@code tasks} ranges. Boundaries are rounded
     * to 16 elements (a 64-byte cache line) so that tasks never share a line of the output.
     */
    public static long rangeStart(int task, int tasks, long n) {
        if (task >= tasks) return n;
        long per = (n + tasks - 1) / tasks;
        per = (per + 15) & ~15L;
        return Math.min(n, task * per);
    }

    /** Number of tasks for a row-wise op over rows × cols elements: whole rows, at least ROW_GRAIN elements each. */
    public static int rowTasks(long rows, long cols) {
        if (rows <= 0) return 0;
        long work = rows * Math.max(1, cols);
        return (int) Math.min(rows, ThreadPool.tasksFor(work, ROW_GRAIN, MAX_TASKS));
    }

    /** First row of task {@code task} when {@code rows} rows are cut into {@code tasks} blocks. */
    public static long rowStart(int task, int tasks, long rows) {
        return rows * task / tasks;
    }

    /** Number of fixed reduction chunks covering n elements. */
    public static int reductionChunks(long n) {
        return (int) ((n + REDUCTION_CHUNK - 1) / REDUCTION_CHUNK);
    }

    // ---- argument checks ------------------------------------------------------------------------------

    /** Throws unless count ≥ 0. */
    public static void checkCount(String what, long count) {
        if (count < 0) throw new IllegalArgumentException(what + " must be >= 0, got " + count);
    }

    /**
     * Throws unless F32 elements [offset, offset + count) lie inside {@code segment}; {@code name} names the
     * operand in the message.
     */
    public static void checkF32(String name, MemorySegment segment, long offset, long count) {
        checkElements(name, segment, offset, count, 4);
    }

    /** As {@link #checkF32} for elements of {@code elementBytes} bytes. */
    public static void checkElements(String name, MemorySegment segment, long offset, long count, int elementBytes) {
        if (segment == null) throw new IllegalArgumentException(name + " is null");
        if (offset < 0) throw new IllegalArgumentException(name + " offset must be >= 0, got " + offset);
        if (count == 0) return;
        long capacity = segment.byteSize() / elementBytes;
        if (offset > capacity || count > capacity - offset) {
            throw new IllegalArgumentException(name + ": elements [" + offset + ", " + (offset + count)
                    + ") do not fit its segment of " + capacity + " elements of " + elementBytes + " bytes");
        }
    }

    /** Throws unless stride is 0 (broadcast one value) or 1 (a vector). */
    public static void checkStride(String name, int stride) {
        if (stride != 0 && stride != 1) {
            throw new IllegalArgumentException(name + " must be 0 (broadcast) or 1 (vector), got " + stride);
        }
    }

    /** Number of elements an operand of n elements with stride 0 or 1 reads. */
    public static long extent(int n, int stride) {
        return n == 0 ? 0 : (stride == 0 ? 1 : n);
    }

    /** Throws an IndexOutOfBoundsException naming the offending id unless every id is in [0, vocab). */
    public static void checkIds(int count, int[] ids, int idsOffset, int vocab) {
        if (ids == null) throw new IllegalArgumentException("ids is null");
        if (idsOffset < 0 || count > ids.length - idsOffset) {
            throw new IllegalArgumentException("ids[" + idsOffset + ", " + ((long) idsOffset + count)
                    + ") does not fit an array of " + ids.length);
        }
        for (int t = 0; t < count; t++) {
            int id = ids[idsOffset + t];
            if (id < 0 || id >= vocab) {
                throw new IndexOutOfBoundsException("token id " + id + " at ids[" + (idsOffset + t)
                        + "] is outside the vocabulary [0, " + vocab + ")");
            }
        }
    }

    /**
     * Checks RoPE arguments and returns the number of positions the tables hold. cos and sin are F32
     * [maxPosition × headDim/2] starting at element 0; every position must be in [0, maxPosition).
     */
    public static int checkRope(int tokens, int heads, int headDim, long tokenStride, MemorySegment x, long xOffset,
                                int[] positions, MemorySegment cos, MemorySegment sin) {
        checkCount("tokens", tokens);
        checkCount("heads", heads);
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim must be positive and even, got " + headDim);
        }
        long rowWidth = (long) heads * headDim;
        if (tokens > 1 && tokenStride < rowWidth) {
            throw new IllegalArgumentException("tokenStride " + tokenStride + " is smaller than heads × headDim = "
                    + rowWidth + " (token rows would overlap)");
        }
        if (positions == null || positions.length < tokens) {
            throw new IllegalArgumentException("positions must hold one position per token (" + tokens + "), got "
                    + (positions == null ? "null" : positions.length));
        }
        if (tokens > 0 && heads > 0) checkF32("x", x, xOffset, (tokens - 1) * tokenStride + rowWidth);
        int half = headDim / 2;
        if (cos == null || sin == null) throw new IllegalArgumentException("cos and sin tables must not be null");
        long cosPositions = cos.byteSize() / 4 / half;
        long sinPositions = sin.byteSize() / 4 / half;
        int maxPosition = (int) Math.min(Integer.MAX_VALUE, Math.min(cosPositions, sinPositions));
        for (int t = 0; t < tokens; t++) {
            if (positions[t] < 0 || positions[t] >= maxPosition) {
                throw new IndexOutOfBoundsException("position " + positions[t] + " of token " + t
                        + " is outside the RoPE tables' [0, " + maxPosition + ")");
            }
        }
        return maxPosition;
    }

    /** Checks rows, cols ≥ 0 and that each named [rows × cols] operand fits its segment. */
    public static void checkRows(int rows, int cols, String[] names, MemorySegment[] segments, long[] offsets) {
        checkCount("rows", rows);
        checkCount("cols", cols);
        for (int i = 0; i < names.length; i++) checkF32(names[i], segments[i], offsets[i], (long) rows * cols);
    }

    /** Checks a unary element-wise call: n ≥ 0 and every named operand holds n elements. */
    public static void checkVectors(int n, String[] names, MemorySegment[] segments, long[] offsets) {
        checkCount("n", n);
        for (int i = 0; i < names.length; i++) checkF32(names[i], segments[i], offsets[i], n);
    }

    /** Checks an add/mul call: n ≥ 0, strides 0 or 1, every operand fits its segment. */
    public static void checkBinary(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset,
                                   int bStride, MemorySegment out, long outOffset) {
        checkCount("n", n);
        checkStride("aStride", aStride);
        checkStride("bStride", bStride);
        checkF32("a", a, aOffset, extent(n, aStride));
        checkF32("b", b, bOffset, extent(n, bStride));
        checkF32("out", out, outOffset, n);
    }

    /** Checks an embedding gather: ids, sizes and the table's type. */
    public static void checkEmbeddingGather(int count, int[] ids, int idsOffset, int vocab, int dim,
                                            MemorySegment table, long tableOffset, DType tableType,
                                            MemorySegment out, long outOffset) {
        checkCount("count", count);
        checkCount("vocab", vocab);
        checkCount("dim", dim);
        if (tableType != DType.F32 && tableType != DType.BF16 && tableType != DType.F16 && tableType != DType.Q8_0) {
            throw new IllegalArgumentException("embedding table must be F32, BF16, F16 or Q8_0, got " + tableType);
        }
        if (tableType == DType.Q8_0 && (dim % Q8Block.BLOCK != 0 || tableOffset % Q8Block.BLOCK != 0)) {
            throw new IllegalArgumentException("a Q8_0 embedding table needs dim (" + dim + ") and offset (" + tableOffset
                    + ") multiples of " + Q8Block.BLOCK);
        }
        if (tableType == DType.Q8_0) {
            long needed = tableType.byteSize(tableOffset + (long) vocab * dim);
            if (needed > table.byteSize()) {
                throw new IllegalArgumentException("table: " + vocab + " x " + dim + " Q8_0 weights at element offset "
                        + tableOffset + " need " + needed + " bytes but its segment has " + table.byteSize());
            }
        } else {
            checkElements("table", table, tableOffset, (long) vocab * dim, tableType.bytes);
        }
        checkF32("out", out, outOffset, (long) count * dim);
        checkIds(count, ids, idsOffset, vocab);
    }

    /** Column blocks for the scatter-add: enough work per block, and at least 64 columns each. */
    public static int scatterBlocks(int count, int dim) {
        if (dim == 0 || count == 0) return 0;
        return (int) Math.min(Math.max(1, dim / 64), ThreadPool.tasksFor((long) count * dim, ROW_GRAIN,
                MAX_TASKS));
    }

    /** Checks an embedding scatter-add: sizes and ids. */
    public static void checkEmbeddingScatter(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment dy,
                                             long dyOffset, MemorySegment dtable, long dtableOffset) {
        checkCount("count", count);
        checkCount("vocab", vocab);
        checkCount("dim", dim);
        checkF32("dy", dy, dyOffset, (long) count * dim);
        checkF32("dtable", dtable, dtableOffset, (long) vocab * dim);
        checkIds(count, ids, idsOffset, vocab);
    }

    /** Runs body over [0, n) cut into the shared element-wise ranges. */
    public static void forRanges(long n, ThreadPool.RangeBody body) {
        int tasks = elementTasks(n);
        ThreadPool.shared().parallelFor(tasks, t -> {
            long from = rangeStart(t, tasks, n);
            long to = rangeStart(t + 1, tasks, n);
            if (from < to) body.accept(from, to);
        });
    }

    /** Runs body over rows [0, rows) cut into the shared row blocks. */
    public static void forRowBlocks(long rows, long cols, ThreadPool.RangeBody body) {
        int tasks = rowTasks(rows, cols);
        ThreadPool.shared().parallelFor(tasks, t -> {
            long from = rowStart(t, tasks, rows);
            long to = rowStart(t + 1, tasks, rows);
            if (from < to) body.accept(from, to);
        });
    }
}
