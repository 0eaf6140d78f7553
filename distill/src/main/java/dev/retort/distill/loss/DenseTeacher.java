package dev.retort.distill.loss;

import dev.retort.autograd.Var;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Gemm.Layout;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A live teacher: logits made on demand, a row block at a time, from the frozen teacher's final hidden states
 * [N × Ct] and its LM head [V × Ct] (any dtype: a BF16 checkpoint is read in place) with the GEMM kernel, so
 * [N × V] teacher logits never exist. No gradients flow to the teacher. Also wraps ready-made logits [N × V]
 * ({@link #ofLogits}) for tests and small cases.
 *
 * <p>With {@code topK} &gt; 0 the source is truncated: it hands out {@link TopKBlock}s made from each dense
 * chunk, exactly as a teacher cache with the same k would store them.
 */
public final class DenseTeacher implements TeacherSource {
    private final Tensor hidden;   // [N × Ct] F32, or null when logits are given
    private final Tensor head;     // [V × Ct] any dtype, or null
    private final Tensor logits;   // [N × V] F32, or null when computed
    private final int rows, vocab, topK;
    private final Kernels kernels;
    private Tensor scratch;        // [n × V] for top-k blocks, grown on demand and reused

    private DenseTeacher(Tensor hidden, Tensor head, Tensor logits, int topK, Kernels kernels) {
        this.hidden = hidden;
        this.head = head;
        this.logits = logits;
        this.kernels = kernels;
        if (logits != null) {
            requireF32Matrix(logits, "teacher logits");
            rows = logits.dim(0);
            vocab = logits.dim(1);
        } else {
            requireF32Matrix(hidden, "teacher hidden states");
            if (head.rank() != 2 || !head.isContiguous() || head.dim(1) != hidden.dim(1)) {
                throw new IllegalArgumentException("dense teacher: LM head " + head + " must be a contiguous [V × "
                        + hidden.dim(1) + "] tensor to fit hidden states " + hidden);
            }
            rows = hidden.dim(0);
            vocab = head.dim(0);
        }
        if (topK < 0 || topK > vocab) {
            throw new IllegalArgumentException("dense teacher: top-k " + topK + " must be in [0, " + vocab + "] (0 = dense)");
        }
        this.topK = topK;
    }

    /**
     * A teacher from final hidden states [N × Ct] (or [B × T × Ct], flattened) and an LM head [V × Ct].
     * {@code topK} 0 gives dense logits; k &gt; 0 gives top-k blocks.
     */
    public static DenseTeacher of(Tensor hidden, Tensor head, int topK) {
        return new DenseTeacher(flatten(hidden), head, null, topK, Kernels.get());
    }

    /** As {@link #of(Tensor, Tensor, int)} from the vars of a no-grad teacher forward pass (values only). */
    public static DenseTeacher of(Var hidden, Var head, int topK) {
        return of(hidden.value(), head.value(), topK);
    }

    /** A teacher whose raw logits [N × V] (or [B × T × V]) are already computed. */
    public static DenseTeacher ofLogits(Tensor logits, int topK) {
        return new DenseTeacher(null, null, flatten(logits), topK, Kernels.get());
    }

    /** The same teacher truncated to its top-k (0 = dense). */
    public DenseTeacher truncatedTo(int k) {
        return new DenseTeacher(hidden, head, logits, k, kernels);
    }

    @Override
    public int rows() { return rows; }

    @Override
    public int vocab() { return vocab; }

    @Override
    public int topK() { return topK; }

    @Override
    public void denseLogits(int row, int n, Tensor out) {
        if (row < 0 || n < 0 || row + n > rows) {
            throw new IndexOutOfBoundsException("dense teacher: rows [" + row + ", " + (row + n) + ") outside [0, " + rows + ")");
        }
        if (out.dtype() != DType.F32 || !out.isContiguous() || out.size() < (long) n * vocab) {
            throw new IllegalArgumentException("dense teacher: output " + out + " cannot hold " + n + " × " + vocab + " F32 logits");
        }
        if (n == 0) return;
        if (logits != null) {
            MemorySegment.copy(logits.segment(), (logits.offset() + (long) row * vocab) * 4,
                    out.segment(), out.offset() * 4, (long) n * vocab * 4);
            return;
        }
        // out[n × V] = hidden[row : row + n, Ct] · headᵀ
        int c = hidden.dim(1);
        kernels.gemm().gemm(Layout.ABT, n, vocab, c, 1f, hidden.segment(), hidden.offset() + (long) row * c, c,
                head.segment(), head.offset(), c, head.dtype(), 0f, out.segment(), out.offset(), vocab);
    }

    @Override
    public TopKBlock topKBlock(int row, int n, double temperature) {
        if (topK == 0) throw new UnsupportedOperationException("dense teacher without top-k truncation: use denseLogits");
        if (scratch == null || scratch.dim(0) < n) {
            scratch = Tensor.zeros(Arena.ofAuto(), DType.F32, Math.max(n, 1), vocab);
        }
        Tensor chunk = scratch.slice(0, 0, n);
        denseLogits(row, n, chunk);
        return TopKBlock.fromDense(chunk, topK, temperature);
    }

    private static Tensor flatten(Tensor t) {
        if (t.rank() < 2) throw new IllegalArgumentException("dense teacher: expected a [..., C] tensor, got " + t);
        int last = t.dim(-1);
        return t.rank() == 2 ? t : t.reshape((int) (t.size() / last), last);
    }

    private static void requireF32Matrix(Tensor t, String what) {
        if (t.dtype() != DType.F32 || !t.isContiguous()) {
            throw new IllegalArgumentException("dense teacher: " + what + " must be a contiguous F32 tensor, got " + t);
        }
    }
}
