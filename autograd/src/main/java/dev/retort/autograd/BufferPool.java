package dev.retort.autograd;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Recycled native buffers for activations and gradients.
 *
 * <p>A training step allocates the same sizes in the same order every time. The pool keeps released buffers
 * in free lists by byte size and hands them out again, so after the first step a step allocates nothing: no
 * garbage-collector churn, no native allocation. The backward pass releases each activation as soon as no
 * remaining backward needs it, so later gradients reuse that memory and the peak stays near one copy of the
 * activations plus one of their gradients.
 *
 * <p>All memory comes from one shared {@link Arena} (kernel threads read it) and lives until {@link #close()}.
 * Not thread-safe: one training loop owns a pool.
 */
public final class BufferPool implements AutoCloseable {
    private static final long ALIGN = 64;

    private final Arena arena = Arena.ofShared();
    private final Map<Long, ArrayDeque<MemorySegment>> free = new HashMap<>();
    private long bytesInUse;
    private long peakBytesInUse;
    private long bytesReserved;

    /** A tensor of {@code shape} whose contents are undefined (every op that uses this overwrites it). */
    public Tensor allocate(DType dtype, int... shape) {
        long count = 1;
        for (int d : shape) count = Math.multiplyExact(count, (long) d);
        long bytes = Math.max(ALIGN, (count * dtype.bytes + ALIGN - 1) / ALIGN * ALIGN);
        ArrayDeque<MemorySegment> list = free.get(bytes);
        MemorySegment segment = list == null ? null : list.pollLast();
        if (segment == null) {
            segment = arena.allocate(bytes, ALIGN);
            bytesReserved += bytes;
        }
        bytesInUse += bytes;
        peakBytesInUse = Math.max(peakBytesInUse, bytesInUse);
        return Tensor.wrap(segment, dtype, shape);
    }

    /** A zero-filled tensor of {@code shape}. */
    public Tensor zeros(DType dtype, int... shape) {
        Tensor t = allocate(dtype, shape);
        t.segment().fill((byte) 0);
        return t;
    }

    /** Returns a tensor made by {@link #allocate} to the pool; the caller must not touch it afterwards. */
    public void release(Tensor tensor) {
        MemorySegment segment = tensor.segment();
        free.computeIfAbsent(segment.byteSize(), size -> new ArrayDeque<>()).addLast(segment);
        bytesInUse -= segment.byteSize();
    }

    /** Bytes handed out and not yet released. */
    public long bytesInUse() { return bytesInUse; }

    /** The most bytes ever in use at once. */
    public long peakBytesInUse() { return peakBytesInUse; }

    /** Bytes of native memory the pool holds (in use or free). */
    public long bytesReserved() { return bytesReserved; }

    public void resetPeak() { peakBytesInUse = bytesInUse; }

    @Override
    public void close() {
        free.clear();
        arena.close();
    }
}
