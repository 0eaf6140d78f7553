package dev.retort.autograd.optim;

import dev.retort.autograd.Parameter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collection;

/** Global-norm gradient clipping, as {@code torch.nn.utils.clip_grad_norm_}. */
public final class GradientClipping {
    private GradientClipping() {}

    /**
     * Scales every gradient by min(1, maxNorm / (‖g‖ + 1e-6)) where ‖g‖ is the L2 norm of all gradients
     * together, accumulated in double in parameter order (deterministic). Returns ‖g‖ before clipping
     * (NaN or infinite if a gradient is).
     */
    public static double clipGlobalNorm(Collection<Parameter> parameters, double maxNorm) {
        double sumSquares = 0;
        for (Parameter p : parameters) {
            if (p.grad() == null) continue;
            MemorySegment g = p.grad().segment();
            long n = p.grad().size();
            for (long i = 0; i < n; i++) {
                double x = g.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
                sumSquares += x * x;
            }
        }
        double norm = Math.sqrt(sumSquares);
        double factor = maxNorm / (norm + 1e-6);
        if (factor < 1 && Double.isFinite(norm)) {
            float f = (float) factor;
            for (Parameter p : parameters) {
                if (p.grad() == null) continue;
                MemorySegment g = p.grad().segment();
                long n = p.grad().size();
                for (long i = 0; i < n; i++) {
                    g.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, g.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i) * f);
                }
            }
        }
        return norm;
    }
}
