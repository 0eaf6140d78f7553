package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.AttentionTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.ThreadPool;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The flash-style attention backward, on every implementation, against the analytic and numeric gradients. */
class AttentionBackwardTest {
    /** Tolerance for dq/dk/dv relative to max(1, |reference|): sums over ≤ 130 keys, 4 heads, D ≤ 64 in float. */
    static final double BACKWARD_TOLERANCE = 5e-5;

    static List<Kernels> implementations() {
        return Kernels.allImplementations();
    }

    static final List<Shape> SHAPES = List.of(
            Shape.of(2, 1, 0, 1, 2, 2, 1, 0),
            Shape.of(2, 7, 0, 7, 4, 2, 7, 5),
            Shape.of(2, 33, 0, 33, 4, 1, 8, 3),
            Shape.of(2, 100, 0, 100, 4, 2, 8, 7),
            Shape.of(2, 33, 0, 40, 2, 2, 33, 1),
            Shape.of(1, 70, 0, 70, 1, 1, 64, 0),
            Shape.of(2, 7, 0, 7, 3, 1, 33, 2),
            Shape.of(1, 130, 0, 130, 2, 1, 7, 0));

    /** dq/dk/dv equal the initial values plus the analytic double-precision gradients of Σ out ⊙ dout. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matchesAnalyticDoubleBackwardOnAwkwardShapes(Kernels kernels) {
        long seed = 1;
        for (Shape s : SHAPES) {
            Problem p = new Problem(s, seed++);
            Random random = new Random(seed * 31);
            float[] dout = gaussian(random, s.queryElements());
            Gradients initial = new Gradients(gaussian(random, s.queryElements()), gaussian(random, s.kvElements()),
                    gaussian(random, s.kvElements()));
            ForwardResult forward = runForward(kernels.attention(), p, true);
            Gradients result = runBackward(kernels.attention(), p, forward, dout, initial);
            double[][] ref = referenceBackward(s, toDouble(p.q), toDouble(p.k), toDouble(p.v), toDouble(dout));
            String context = kernels + " " + s;
            assertClose("dq", plus(initial.dq(), ref[0]), result.dq(), BACKWARD_TOLERANCE, context);
            assertClose("dk", plus(initial.dk(), ref[1]), result.dk(), BACKWARD_TOLERANCE, context);
            assertClose("dv", plus(initial.dv(), ref[2]), result.dv(), BACKWARD_TOLERANCE, context);
        }
    }

    /**
     * A central finite difference (in double) of the reference forward's loss Σ out ⊙ R, on a tiny case: checks
     * the kernels against the definition of the gradient, independently of the analytic formulas above.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matchesFiniteDifferenceOfReferenceLoss(Kernels kernels) {
        Shape s = Shape.of(2, 5, 0, 5, 4, 2, 3, 1);
        Problem p = new Problem(s, 77);
        float[] r = gaussian(new Random(78), s.queryElements());
        double[] q = toDouble(p.q), k = toDouble(p.k), v = toDouble(p.v), weights = toDouble(r);
        double[] numericDq = finiteDifference(s, q, q, k, v, weights);
        double[] numericDk = finiteDifference(s, k, q, k, v, weights);
        double[] numericDv = finiteDifference(s, v, q, k, v, weights);

        // The analytic reference agrees with the numeric gradient to the accuracy of the difference quotient.
        double[][] analytic = referenceBackward(s, q, k, v, weights);
        assertClose("reference dq", numericDq, toFloat(analytic[0]), 1e-6, "analytic vs numeric");
        assertClose("reference dk", numericDk, toFloat(analytic[1]), 1e-6, "analytic vs numeric");
        assertClose("reference dv", numericDv, toFloat(analytic[2]), 1e-6, "analytic vs numeric");

        Gradients zero = new Gradients(new float[s.queryElements()], new float[s.kvElements()], new float[s.kvElements()]);
        ForwardResult forward = runForward(kernels.attention(), p, true);
        Gradients result = runBackward(kernels.attention(), p, forward, r, zero);
        String context = kernels + " " + s + " vs finite difference";
        assertClose("dq", numericDq, result.dq(), 1e-5, context);
        assertClose("dk", numericDk, result.dk(), 1e-5, context);
        assertClose("dv", numericDv, result.dv(), 1e-5, context);
    }

    /** d(Σ out ⊙ weights)/d(param) by central differences with step 1e-5; NaN where param is padding. */
    private static double[] finiteDifference(Shape s, double[] param, double[] q, double[] k, double[] v, double[] weights) {
        double step = 1e-5;
        double[] grad = new double[param.length];
        for (int i = 0; i < param.length; i++) {
            if (Double.isNaN(param[i])) {
                grad[i] = Double.NaN;
                continue;
            }
            double saved = param[i];
            param[i] = saved + step;
            double plus = loss(s, q, k, v, weights);
            param[i] = saved - step;
            double minus = loss(s, q, k, v, weights);
            param[i] = saved;
            grad[i] = (plus - minus) / (2 * step);
        }
        return grad;
    }

    private static double loss(Shape s, double[] q, double[] k, double[] v, double[] weights) {
        double[] out = referenceForward(s, q, k, v).out();
        double sum = 0;
        for (int i = 0; i < out.length; i++) sum += out[i] * weights[i];
        return sum;
    }

    /** A second backward call on top of the first doubles the gradients (up to rounding): += never overwrites. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void accumulatesIntoGradientsInsteadOfOverwriting(Kernels kernels) {
        Shape s = Shape.of(2, 33, 0, 33, 4, 2, 16, 0);
        Problem p = new Problem(s, 3);
        float[] dout = gaussian(new Random(4), s.queryElements());
        ForwardResult forward = runForward(kernels.attention(), p, true);
        Gradients zero = new Gradients(new float[s.queryElements()], new float[s.kvElements()], new float[s.kvElements()]);
        Gradients once = runBackward(kernels.attention(), p, forward, dout, zero);
        Gradients twice = runBackward(kernels.attention(), p, forward, dout, once);
        String context = kernels + " second call on top of the first";
        assertClose("dq", scaled(once.dq(), 2), twice.dq(), 1e-6, context);
        assertClose("dk", scaled(once.dk(), 2), twice.dk(), 1e-6, context);
        assertClose("dv", scaled(once.dv(), 2), twice.dv(), 1e-6, context);
        assertTrue(maxAbs(once.dk()) > 0.1, "the gradient is not trivially zero");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void bitwiseIdenticalForAnyThreadCount(Kernels kernels) {
        Shape s = Shape.of(2, 70, 0, 70, 4, 2, 16, 0); // four (b, g) units
        Problem p = new Problem(s, 9);
        float[] dout = gaussian(new Random(10), s.queryElements());
        Gradients initial = new Gradients(gaussian(new Random(1), s.queryElements()),
                gaussian(new Random(2), s.kvElements()), gaussian(new Random(3), s.kvElements()));
        try {
            ThreadPool.setSharedThreads(1);
            ForwardResult forward = runForward(kernels.attention(), p, true);
            Gradients one = runBackward(kernels.attention(), p, forward, dout, initial);
            ThreadPool.setSharedThreads(3);
            Gradients three = runBackward(kernels.attention(), p, forward, dout, initial);
            String context = kernels + " 1 vs 3 threads";
            assertBitwiseEqual("dq", one.dq(), three.dq(), context);
            assertBitwiseEqual("dk", one.dk(), three.dk(), context);
            assertBitwiseEqual("dv", one.dv(), three.dv(), context);
        } finally {
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
    }

    private static double[] plus(float[] a, double[] b) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) c[i] = a[i] + b[i];
        return c;
    }

    private static double[] scaled(float[] a, double factor) {
        double[] c = new double[a.length];
        for (int i = 0; i < a.length; i++) c[i] = a[i] * factor;
        return c;
    }

    private static float[] toFloat(double[] a) {
        float[] c = new float[a.length];
        for (int i = 0; i < a.length; i++) c[i] = (float) a[i];
        return c;
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float x : a) m = Math.max(m, Math.abs(x));
        return m;
    }
}
