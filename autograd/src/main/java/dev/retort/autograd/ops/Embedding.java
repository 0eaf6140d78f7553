package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;

/** Token embedding lookup: rows of a [vocab × dim] table, gathered by token id. */
public final class Embedding {
    private Embedding() {}

    /**
     * y[t,:] = table[ids[t],:] for the {@code count} ids starting at {@code idsOffset}; y is [count × dim]
     * (reshape it to [batch × T × dim] as needed). The table may be a frozen BF16/F16 tensor.
     */
    public static Var lookup(Graph g, Var table, int[] ids, int idsOffset, int count) {
        int vocab = table.dim(0), dim = table.dim(1);
        Tensor tv = table.value();
        if (!tv.isContiguous()) throw new IllegalArgumentException("embedding table must be contiguous");
        int[] idsCopy = java.util.Arrays.copyOfRange(ids, idsOffset, idsOffset + count);  // callers may reuse their array

        // forward: gather rows (widened to F32)
        Tensor y = g.allocate(count, dim);
        g.kernels().elementwise().embeddingGather(count, idsCopy, 0, vocab, dim, tv.segment(), tv.offset(), tv.dtype(),
                y.segment(), 0);

        return Var.result(g, y, true, dy -> {
            // backward: dtable[ids[t],:] += dy[t,:] (repeated ids add up, in token order)
            Tensor dtable = table.gradForAccumulation();
            g.kernels().elementwise().embeddingScatterAdd(count, idsCopy, 0, vocab, dim, dy.segment(), 0,
                    dtable.segment(), 0);
        }, table);
    }
}
