package dev.retort.autograd;

import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Hessian-vector products H·v of a loss with respect to parameters, by a central finite difference of
 * gradients (as DARTS does for its second-order term):
 * <pre>
 *   H·v ≈ (∇L(θ + ε·v) − ∇L(θ − ε·v)) / (2ε),    ε = step / ‖v‖
 * </pre>
 * Why not double backward: it would need every op's backward to be differentiable itself, doubling the op
 * code; meta-distillation needs one H·v per step, where two extra gradient evaluations are cheap.
 * Error: O(ε²·‖∇³L‖·‖v‖³) truncation plus about u·‖∇L‖/ε rounding (u = 6e-8 in F32); with
 * {@code step = 1e-2} both are small against ‖H·v‖ for losses of order one. The parameters are restored
 * bit for bit afterwards.
 */
public final class HessianVectorProduct {
    private HessianVectorProduct() {}

    /** Computes the gradients of the loss into the parameters' {@code .grad} (which start at zero). */
    @FunctionalInterface
    public interface GradientComputation {
        void run();
    }

    /**
     * H·v for {@code parameters}, with {@code v} one float[] per parameter (its size). Parameters' gradients
     * are zeroed, used as scratch, and zeroed again on return.
     */
    public static List<float[]> centralDifference(List<Parameter> parameters, List<float[]> v, double step,
                                                  GradientComputation gradients) {
        if (v.size() != parameters.size()) throw new IllegalArgumentException(v.size() + " vectors for " + parameters.size() + " parameters");
        double norm = 0;
        for (float[] vi : v) for (float x : vi) norm += (double) x * x;
        norm = Math.sqrt(norm);
        List<float[]> result = new ArrayList<>();
        if (norm == 0) {
            for (float[] vi : v) result.add(new float[vi.length]);
            return result;
        }
        double eps = step / norm;

        List<float[]> saved = new ArrayList<>();
        for (Parameter p : parameters) saved.add(p.value().toFloatArray());

        List<float[]> plus = gradientAt(parameters, saved, v, eps, gradients);
        List<float[]> minus = gradientAt(parameters, saved, v, -eps, gradients);
        for (int i = 0; i < parameters.size(); i++) {
            float[] hv = new float[plus.get(i).length];
            for (int j = 0; j < hv.length; j++) hv[j] = (float) ((plus.get(i)[j] - (double) minus.get(i)[j]) / (2 * eps));
            result.add(hv);
        }
        for (int i = 0; i < parameters.size(); i++) write(parameters.get(i).value(), saved.get(i));
        for (Parameter p : parameters) p.zeroGrad();
        return result;
    }

    private static List<float[]> gradientAt(List<Parameter> parameters, List<float[]> base, List<float[]> v,
                                            double eps, GradientComputation gradients) {
        for (int i = 0; i < parameters.size(); i++) {
            float[] b = base.get(i), vi = v.get(i);
            if (vi.length != b.length) {
                throw new IllegalArgumentException("vector " + i + " has " + vi.length + " elements, parameter '"
                        + parameters.get(i).name() + "' has " + b.length);
            }
            float[] moved = new float[b.length];
            for (int j = 0; j < b.length; j++) moved[j] = (float) (b[j] + eps * vi[j]);
            write(parameters.get(i).value(), moved);
            parameters.get(i).zeroGrad();
        }
        gradients.run();
        List<float[]> grads = new ArrayList<>();
        for (Parameter p : parameters) {
            grads.add(p.grad() == null ? new float[(int) p.value().size()] : p.grad().toFloatArray());
        }
        return grads;
    }

    private static void write(Tensor t, float[] values) {
        MemorySegment.copy(values, 0, t.segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, t.byteOffset(), values.length);
    }
}
