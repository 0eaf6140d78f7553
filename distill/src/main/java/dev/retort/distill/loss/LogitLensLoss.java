package dev.retort.distill.loss;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.tensor.Tensor;

/**
 * Internal-representation distillation by cross-entropy, read through the "logit lens": a layer's hidden states,
 * put through the model's final norm and its output head, are a next-token distribution, and the student's
 * layer i learns the distribution of the teacher's layer m(i) (progressive distillation's representation phase).
 * Each model reads its own layer through its own norm and head, so the widths need not match.
 *
 * <pre>
 *   z_s = norm_s(h_s[i]) · W_sᵀ          [N × V]      z_t = norm_t(h_t[m(i)]) · W_tᵀ     [N × V]
 *   p = softmax(z_t / T),  q = softmax(z_s / T)
 *   CE_r = −Σ_j p_j·log q_j = H(p_r) + KL(p_r ‖ q_r)
 *   loss = T²/divisor · Σ_{counted r} CE_r        ∂loss/∂z_s = T/divisor · (q − p)
 * </pre>
 *
 * It is {@link DistillationLoss} with the forward KL at α = 1 (the one chunked {@link
 * dev.retort.autograd.ops.LmHeadLoss} op, so [N × V] never exists) plus the teacher's entropy, a constant for the
 * student that its rows compute in the same pass: the gradient is KL's, the value the cross-entropy. No label is
 * read: of the targets only whether a row counts is used ({@link #labelFree}).
 */
public final class LogitLensLoss {
    private LogitLensLoss() {}

    /**
     * The loss and its parts: Σ CE_r and Σ KL_r over counted rows (at T, without T²), the counted rows, top-1
     * agreement, and each row's KL and teacher entropy (0 for rows that do not count).
     */
    public record Result(Var loss, double ceSum, double klSum, int countedRows, int top1Agreement, DistillationLoss.PerRow perRow) {}

    /**
     * The cross-entropy of the student's lens {@code studentNormed · studentHeadᵀ} against {@code teacher}'s:
     * studentNormed [N × Cs] (or [B × T × Cs]) already through the student's final norm, studentHead [V × Cs], the
     * teacher's lens a source of N rows over V (a {@link DenseTeacher} of its normed layer and its head).
     *
     * @param counted   N entries, {@link CrossEntropy#IGNORE_INDEX} where a row does not count (only that is read)
     * @param divisor   what the sum is divided by (0: the counted rows)
     * @param chunkRows rows of logits made at a time
     */
    public static Result linear(Var studentNormed, Var studentHead, TeacherSource teacher, int[] counted,
                                double temperature, double divisor, int chunkRows) {
        int[] mask = labelFree(counted);
        KdConfig config = config(temperature);
        return withEntropy(studentNormed.graph(), DistillationLoss.linear(studentNormed, studentHead, teacher, mask, config,
                divisor, chunkRows, true), temperature, divisor);
    }

    /** The same loss from ready-made student logits [N × V], for tests and small cases. */
    public static Result fromLogits(Var studentLogits, TeacherSource teacher, int[] counted, double temperature, double divisor) {
        int[] mask = labelFree(counted);
        return withEntropy(studentLogits.graph(), DistillationLoss.fromLogits(studentLogits, teacher, mask, config(temperature),
                divisor, true), temperature, divisor);
    }

    /** 0 where a row counts, {@link CrossEntropy#IGNORE_INDEX} elsewhere: a mask with no label in it. */
    public static int[] labelFree(int[] targets) {
        int[] mask = new int[targets.length];
        for (int i = 0; i < mask.length; i++) mask[i] = targets[i] == CrossEntropy.IGNORE_INDEX ? CrossEntropy.IGNORE_INDEX : 0;
        return mask;
    }

    /** Forward KL at T, all of it (α = 1: the cross-entropy term on the mask's placeholder tokens weighs 0), dense. */
    private static KdConfig config(double temperature) {
        return new KdConfig(Divergence.FKL, temperature, 1, 0.5, 0);
    }

    /** KL's loss plus the constant T²/divisor · Σ H(p_r). */
    private static Result withEntropy(Graph g, DistillationLoss.Result kl, double temperature, double divisor) {
        double entropy = kl.perRow().entropySum();
        double scale = 1.0 / (divisor > 0 ? divisor : Math.max(1, kl.countedTokens()));
        Tensor constant = g.allocate(1);
        constant.setFlat(0, (float) (scale * temperature * temperature * entropy));
        Var loss = Arithmetic.add(kl.loss(), g.constant(constant));
        return new Result(loss, kl.kdSum() + entropy, kl.kdSum(), kl.countedTokens(), kl.top1Agreement(), kl.perRow());
    }
}
