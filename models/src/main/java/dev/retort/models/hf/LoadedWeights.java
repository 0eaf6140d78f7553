package dev.retort.models.hf;

import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.SortedSet;

/**
 * Another {@link ModelWeights} whose tensors are copied into anonymous memory of this object's own when first asked
 * for, instead of read from the file mapping ({@code --no-mmap}, as llama.cpp calls it). Why: decoding reads every
 * weight once per token, and on the benchmark machine (a VM, Zen 4) a matvec over weights in the page-cache mapping
 * ran at about two thirds of the speed of the same bytes copied into anonymous memory, on one thread and on two
 * (bench/RESULTS.md, "Issue 15: decode speed (session 6)"); a plain native alias of the mapping was as slow as
 * the mapping, so it is where the pages live, not the kind of segment. The cost: the model's size in RAM that
 * the kernel cannot drop under pressure (the file's page cache it can), and both copies while loading.
 * Raw {@link #bytes} stay the file's.
 */
public final class LoadedWeights implements ModelWeights {
    /** Copies start on a cache line (a vector load never straddles one more than it must). */
    private static final long ALIGNMENT = 64;

    private final ModelWeights file;
    private final Arena arena = Arena.ofShared();
    private final Map<String, Tensor> copies = new HashMap<>();
    private boolean closed;

    /** Takes {@code file} over: closing this closes it. */
    public LoadedWeights(ModelWeights file) {
        this.file = file;
    }

    @Override
    public SortedSet<String> names() {
        return file.names();
    }

    @Override
    public boolean contains(String name) {
        return file.contains(name);
    }

    @Override
    public TensorInfo info(String name) {
        return file.info(name);
    }

    /** The file's tensor {@code name}, copied (once) into this object's memory. */
    @Override
    public synchronized Tensor tensor(String name) {
        if (closed) throw new IllegalStateException(file + " is closed");
        Tensor copy = copies.get(name);
        if (copy == null) {
            Tensor mapped = file.tensor(name);
            MemorySegment bytes = mapped.segment().asSlice(mapped.byteOffset(), mapped.dtype().byteSize(mapped.size()));
            copy = Tensor.wrap(arena.allocate(bytes.byteSize(), ALIGNMENT).copyFrom(bytes), mapped.dtype(), mapped.shape());
            copies.put(name, copy);
        }
        return copy;
    }

    @Override
    public MemorySegment bytes(String name) {
        return file.bytes(name);
    }

    /** Frees the copies and closes the file; closing again does nothing. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        copies.clear();
        arena.close();
        file.close();
    }

    @Override
    public String toString() {
        return "LoadedWeights[" + file + "]";
    }
}
