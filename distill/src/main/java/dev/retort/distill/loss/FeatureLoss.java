package dev.retort.distill.loss;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.MatMul;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Feature distillation: pulls the student's hidden states [N × Cs] (one row per token) towards the teacher's
 * [N × Ct] at a mapped layer ({@link LayerMap}). When the widths differ a learned projection [Ct × Cs] (a
 * Linear weight, out × in) first maps the student into the teacher's space: s' = s·Pᵀ. The teacher is a
 * constant: no gradient flows to it even if its var has one.
 *
 * <p>Both losses compute their gradient with respect to s' during the forward pass (it is as cheap as the
 * loss) and the backward pass scales it by the incoming gradient; the projection's gradient then comes from
 * {@link MatMul#linear}'s own backward.
 */
public final class FeatureLoss {
    private FeatureLoss() {}

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Rows with ‖s'‖·‖t‖ below this count as cos = 0 with no gradient (the direction is undefined). */
    private static final double MIN_NORM_PRODUCT = 1e-12;

    /**
     * Mean squared error over all N·Ct elements: L = (1/(N·Ct))·Σ (s' − t)², dL/ds' = 2·(s' − t)/(N·Ct).
     */
    public static Var mse(Var student, Var teacher, Var projectionOrNull) {
        Var s = project(student, teacher, projectionOrNull, "mse");
        Graph g = s.graph();
        int width = s.dim(-1), rows = (int) (s.size() / width);
        Tensor sv = s.value(), tv = teacher.value();
        MemorySegment ss = sv.segment(), ts = tv.segment();
        long sOff = sv.offset(), tOff = tv.offset();
        double inv = 1.0 / ((double) rows * width);
        boolean wantGrad = g.gradEnabled() && s.requiresGrad();
        Tensor dS = wantGrad ? g.allocate(rows, width) : null;
        double sum = 0;
        for (long i = 0; i < (long) rows * width; i++) {
            double diff = (double) ss.getAtIndex(F32, sOff + i) - ts.getAtIndex(F32, tOff + i);
            sum += diff * diff;
            if (wantGrad) dS.segment().setAtIndex(F32, i, (float) (2 * diff * inv));
        }
        return finish(g, s, sum * inv, dS);
    }

    /**
     * Mean over rows of 1 − cos(s'_r, t_r), cos = s'·t / (‖s'‖·‖t‖):
     * dL/ds'_r = −(1/N)·(t_r/(‖s'_r‖·‖t_r‖) − cos_r·s'_r/‖s'_r‖²). A row where ‖s'‖·‖t‖ is (nearly) zero
     * counts as cos = 0 with a zero gradient.
     */
    public static Var cosine(Var student, Var teacher, Var projectionOrNull) {
        Var s = project(student, teacher, projectionOrNull, "cosine");
        Graph g = s.graph();
        int width = s.dim(-1), rows = (int) (s.size() / width);
        Tensor sv = s.value(), tv = teacher.value();
        MemorySegment ss = sv.segment(), ts = tv.segment();
        boolean wantGrad = g.gradEnabled() && s.requiresGrad();
        Tensor dS = wantGrad ? g.zeros(rows, width) : null;
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            long sRow = sv.offset() + (long) r * width, tRow = tv.offset() + (long) r * width;
            double dot = 0, ss2 = 0, tt2 = 0;
            for (int j = 0; j < width; j++) {
                double a = ss.getAtIndex(F32, sRow + j), b = ts.getAtIndex(F32, tRow + j);
                dot += a * b;
                ss2 += a * a;
                tt2 += b * b;
            }
            double norms = Math.sqrt(ss2) * Math.sqrt(tt2);
            if (norms < MIN_NORM_PRODUCT) {
                sum += 1;
                continue;
            }
            double cos = dot / norms;
            sum += 1 - cos;
            if (!wantGrad) continue;
            for (int j = 0; j < width; j++) {
                double a = ss.getAtIndex(F32, sRow + j), b = ts.getAtIndex(F32, tRow + j);
                double grad = -(b / norms - cos * a / ss2) / rows;
                dS.segment().setAtIndex(F32, (long) r * width + j, (float) grad);
            }
        }
        return finish(g, s, sum / rows, dS);
    }

    /** s' = student·Pᵀ, or the student itself; checks that s' and the teacher have the same shape. */
    private static Var project(Var student, Var teacher, Var projection, String loss) {
        student.requireContiguousF32("feature loss: " + loss + " student features");
        teacher.requireContiguousF32("feature loss: " + loss + " teacher features");
        int cs = student.dim(-1), ct = teacher.dim(-1);
        long rows = student.size() / cs;
        if (teacher.size() / ct != rows) {
            throw new IllegalArgumentException("feature " + loss + ": student " + Arrays.toString(student.shape())
                    + " and teacher " + Arrays.toString(teacher.shape()) + " have different numbers of rows");
        }
        if (projection == null) {
            if (cs != ct) {
                throw new IllegalArgumentException("feature " + loss + ": student width " + cs + " differs from teacher width "
                        + ct + "; pass a projection [" + ct + " × " + cs + "]");
            }
            return student;
        }
        if (projection.value().rank() != 2 || projection.dim(0) != ct || projection.dim(1) != cs) {
            throw new IllegalArgumentException("feature " + loss + ": projection " + Arrays.toString(projection.shape())
                    + " must be [teacher width " + ct + " × student width " + cs + "]");
        }
        return MatMul.linear(student, projection);
    }

    /** The loss var: backward adds dy·dS (the gradient computed in the forward pass) into s'. */
    private static Var finish(Graph g, Var s, double value, Tensor dS) {
        Tensor loss = g.allocate(1);
        loss.setFlat(0, (float) value);
        Var result = Var.result(g, loss, true, dy -> {
            Tensor ds = s.gradForAccumulation();
            g.kernels().elementwise().axpy((int) ds.size(), dy.getFlat(0), dS.segment(), 0, ds.segment(), 0);
        }, s);
        return dS == null ? result : result.saveForBackward(dS);
    }

}
