package dev.retort.distill.meta;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.distill.data.Batch;
import dev.retort.distill.loss.DenseTeacher;
import dev.retort.distill.loss.DistillationLoss;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.loss.TeacherSideKd;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The teacher's meta-gradient of one training batch x and quiz batch q (MetaDistil, Zhou et al. 2022):
 * <pre>
 *   θ'(φ)   = θ − λ·∇θ L(x; θ, φ)                         pilot update, L = (1−α)·CE + α·T²·KD
 *   v       = ∇θ' L_quiz(θ')                              L_quiz = the pilot student's cross-entropy on q
 *   dL_quiz(θ'(φ))/dφ = −λ·∇φ(∇θ L(x; θ, φ) · v)          a mixed second derivative, taken at θ
 *                     ≈ −λ·(∇φ L(θ + ε·v) − ∇φ L(θ − ε·v)) / (2ε),   ε = fdStep / ‖v‖
 * </pre>
 * The central difference is DARTS's choice: two teacher backward passes instead of differentiating a backward
 * pass (which every op's backward would then have to support). Its error, with s = fdStep = ε·‖v‖ the length of
 * the step in θ: truncation (s²/6)·|∂³_v ∇φL|/‖v‖, i.e. O(ε²), because the even terms cancel; rounding: each
 * ∇φL carries a relative F32 error of a few u (u = 6e-8), which the division by 2ε turns into about
 * u·‖∇φL‖·‖v‖/s. s = 1e-2 keeps both well under a percent for losses of order one; the tests check the
 * result against a finite difference of the quiz loss itself.
 *
 * <p>∇φ L flows from the KD loss's gradient in the teacher's logits ({@link TeacherSideKd}) back through the
 * teacher's forward pass; CE does not depend on φ. The student is evaluated without gradients in those passes.
 * The student's parameters are restored bit for bit and their gradients left at zero; φ is not changed.
 */
public final class MetaGradient {
    private static final int CHUNK_ROWS = 256;

    /** Plain numbers of one meta-gradient, for logs. */
    public record Diagnostics(double pilotLoss, double quizLoss, double quizGradientNorm, double epsilon) {}

    /** The meta-gradient, one array per φ parameter (in the order given), and its diagnostics. */
    public record Result(List<float[]> gradient, Diagnostics diagnostics) {}

    private MetaGradient() {}

    public static Result compute(LlamaModel student, List<Parameter> theta, LlamaModel teacher, List<Parameter> phi,
                                 KdConfig kd, Batch x, Batch quiz, double pilotLr, double fdStep, BufferPool pool) {
        double divisor = Math.max(1, x.targetCount());
        List<float[]> saved = values(theta);

        // 1. pilot update θ' = θ − λ·∇θ L(x; θ, φ)
        zeroGrad(theta);
        double pilotLoss = studentLoss(student, teacher, kd, x, divisor, pool);
        for (Parameter p : theta) {
            float[] w = p.value().toFloatArray(), g = gradient(p);
            for (int i = 0; i < w.length; i++) w[i] -= (float) (pilotLr * g[i]);
            write(p.value(), w);
        }

        // 2. v = ∇θ' L_quiz(θ')
        zeroGrad(theta);
        double quizLoss;
        try (Graph g = Graph.withGrad(pool)) {
            Var loss = student.loss(g, quiz.inputs(), quiz.targets(), quiz.batch(), quiz.seq(), 0);
            quizLoss = loss.item();
            loss.backward();
        }
        List<float[]> v = new ArrayList<>();
        double norm2 = 0;
        for (Parameter p : theta) {
            float[] g = gradient(p);
            for (float e : g) norm2 += (double) e * e;
            v.add(g);
        }
        zeroGrad(theta);
        double vNorm = Math.sqrt(norm2);

        // 3. −λ·(∇φ L(θ + εv) − ∇φ L(θ − εv)) / (2ε)
        List<float[]> result = new ArrayList<>();
        double eps = vNorm == 0 ? 0 : fdStep / vNorm;
        if (vNorm == 0 || !Double.isFinite(vNorm)) {
            for (Parameter p : phi) result.add(new float[(int) p.value().size()]);
            restore(theta, saved);
            return new Result(result, new Diagnostics(pilotLoss, quizLoss, vNorm, eps));
        }
        moveAlong(theta, saved, v, eps);
        List<float[]> plus = teacherGradient(student, teacher, phi, kd, x, divisor, pool);
        moveAlong(theta, saved, v, -eps);
        List<float[]> minus = teacherGradient(student, teacher, phi, kd, x, divisor, pool);
        restore(theta, saved);
        double factor = -pilotLr / (2 * eps);
        for (int i = 0; i < phi.size(); i++) {
            float[] a = plus.get(i), b = minus.get(i), out = new float[a.length];
            for (int j = 0; j < a.length; j++) out[j] = (float) (factor * ((double) a[j] - b[j]));
            result.add(out);
        }
        return new Result(result, new Diagnostics(pilotLoss, quizLoss, vNorm, eps));
    }

    /** The KD objective of x at the student's current parameters, backpropagated into them; returns its value. */
    static double studentLoss(LlamaModel student, LlamaModel teacher, KdConfig kd, Batch x, double divisor, BufferPool pool) {
        try (Graph g = Graph.withGrad(pool); Graph tg = Graph.noGrad(pool)) {
            Var hs = student.hidden(g, x.inputs(), x.batch(), x.seq(), null);
            Var ht = teacher.hidden(tg, x.inputs(), x.batch(), x.seq(), null);
            DistillationLoss.Result r = DistillationLoss.linear(hs, student.lmHead(), DenseTeacher.of(ht, teacher.lmHead(), kd.topK()),
                    x.targets(), kd, divisor, CHUNK_ROWS);
            double value = r.loss().item();
            r.loss().backward();
            return value;
        }
    }

    /** ∇φ L(x) at the student's current parameters (the student runs without gradients). */
    static List<float[]> teacherGradient(LlamaModel student, LlamaModel teacher, List<Parameter> phi, KdConfig kd, Batch x,
                                         double divisor, BufferPool pool) {
        zeroGrad(phi);
        try (Graph sg = Graph.noGrad(pool); Graph tg = Graph.withGrad(pool)) {
            Var hs = student.hidden(sg, x.inputs(), x.batch(), x.seq(), null);
            Var ht = teacher.hidden(tg, x.inputs(), x.batch(), x.seq(), null);
            Var loss = TeacherSideKd.linear(hs.value(), student.lmHead().value(), ht, teacher.lmHead(), x.targets(), kd, divisor, CHUNK_ROWS);
            loss.backward();
        }
        List<float[]> grads = new ArrayList<>();
        for (Parameter p : phi) grads.add(gradient(p));
        zeroGrad(phi);
        return grads;
    }

    // ---- parameter arithmetic (in the order of the lists) ----------------------------------------------------

    static List<float[]> values(List<Parameter> params) {
        List<float[]> out = new ArrayList<>();
        for (Parameter p : params) out.add(p.value().toFloatArray());
        return out;
    }

    static void restore(List<Parameter> params, List<float[]> saved) {
        for (int i = 0; i < params.size(); i++) write(params.get(i).value(), saved.get(i));
    }

    /** θ ← saved + step·v. */
    private static void moveAlong(List<Parameter> params, List<float[]> saved, List<float[]> v, double step) {
        for (int i = 0; i < params.size(); i++) {
            float[] base = saved.get(i), dir = v.get(i), moved = new float[base.length];
            for (int j = 0; j < base.length; j++) moved[j] = (float) (base[j] + step * dir[j]);
            write(params.get(i).value(), moved);
        }
    }

    private static float[] gradient(Parameter p) {
        return p.grad() == null ? new float[(int) p.value().size()] : p.grad().toFloatArray();
    }

    private static void zeroGrad(List<Parameter> params) {
        for (Parameter p : params) p.zeroGrad();
    }

    private static void write(Tensor t, float[] values) {
        MemorySegment.copy(values, 0, t.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, t.byteOffset(), values.length);
    }
}
