package dev.retort.distill.loss;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.function.Function;

/** Runs the losses under test on plain double arrays and returns plain numbers (loss, parts, gradients). */
final class Runs {
    private Runs() {}

    /** What one loss call produced. Gradients are null when not asked for. */
    record Outcome(double loss, double ceSum, double kdSum, int counted, int agree, double[] gradA, double[] gradB) {}

    /**
     * {@link DistillationLoss#fromLogits} on student logits z [rows × V] against a teacher made from y by
     * {@code teacherOf} (which receives y as a tensor).
     */
    static Outcome fromLogits(double[] z, double[] y, int rows, int vocab, int[] targets, KdConfig config,
                              double divisor, Function<Tensor, TeacherSource> teacherOf) {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var logits = g.leaf(Tensor.of(arena, KdReference.toFloat(z), rows, vocab));
            TeacherSource teacher = teacherOf.apply(Tensor.of(arena, KdReference.toFloat(y), rows, vocab));
            DistillationLoss.Result r = DistillationLoss.fromLogits(logits, teacher, targets, config, divisor);
            r.loss().backward();
            return new Outcome(r.loss().item(), r.ceSum(), r.kdSum(), r.countedTokens(), r.top1Agreement(),
                    KdReference.toDouble(logits.grad().toFloatArray()), null);
        }
    }

    /** fromLogits against a dense teacher holding y (truncated to {@code teacherTopK} when &gt; 0). */
    static Outcome fromLogits(double[] z, double[] y, int rows, int vocab, int[] targets, KdConfig config,
                              double divisor, int teacherTopK) {
        return fromLogits(z, y, rows, vocab, targets, config, divisor, t -> DenseTeacher.ofLogits(t, teacherTopK));
    }

    /**
     * {@link DistillationLoss#linear} with student hidden h [rows × C] and head w [V × C] (both differentiated),
     * against a dense teacher from teacher hidden th [rows × Ct] and head tw [V × Ct], truncated to
     * {@code teacherTopK} when &gt; 0. gradA is dHidden, gradB dHead.
     */
    static Outcome linear(double[] h, double[] w, int rows, int c, int vocab, double[] th, double[] tw, int ct,
                          int teacherTopK, int[] targets, KdConfig config, double divisor, int chunkRows) {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var hidden = g.leaf(Tensor.of(arena, KdReference.toFloat(h), rows, c));
            Var head = g.leaf(Tensor.of(arena, KdReference.toFloat(w), vocab, c));
            TeacherSource teacher = DenseTeacher.of(Tensor.of(arena, KdReference.toFloat(th), rows, ct),
                    Tensor.of(arena, KdReference.toFloat(tw), vocab, ct), teacherTopK);
            DistillationLoss.Result r = DistillationLoss.linear(hidden, head, teacher, targets, config, divisor, chunkRows);
            r.loss().backward();
            return new Outcome(r.loss().item(), r.ceSum(), r.kdSum(), r.countedTokens(), r.top1Agreement(),
                    KdReference.toDouble(hidden.grad().toFloatArray()), KdReference.toDouble(head.grad().toFloatArray()));
        }
    }
}
