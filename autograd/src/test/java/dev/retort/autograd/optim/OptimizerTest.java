package dev.retort.autograd.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.retort.autograd.Parameter;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Each optimizer against its published update rule, evaluated by hand in double for a few steps. */
class OptimizerTest {
    private static final double[] W0 = {0.5, -1.5, 2.0};
    private static final double[][] GRADS = {{0.1, -0.2, 0.3}, {-0.4, 0.05, 0.0}, {0.25, 0.25, -1.0}};

    private Parameter parameter(Arena arena) {
        return new Parameter("layer.weight", Tensor.of(arena, toFloat(W0), 3), true);
    }

    private static void setGrad(Parameter p, double[] g) {
        p.zeroGrad();
        Tensor grad = p.gradForAccumulation();
        for (int i = 0; i < g.length; i++) grad.setFlat(i, (float) g[i]);
    }

    @Test
    void adamWFollowsTheDecoupledUpdateRule() {
        double lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        try (Arena arena = Arena.ofShared()) {
            Parameter p = parameter(arena);
            AdamW opt = new AdamW(List.of(ParamGroup.of(List.of(p), wd)), lr, b1, b2, eps);
            double[] w = W0.clone(), m = new double[3], v = new double[3];
            for (int t = 1; t <= GRADS.length; t++) {
                setGrad(p, GRADS[t - 1]);
                opt.step();
                for (int i = 0; i < 3; i++) {
                    double g = GRADS[t - 1][i];
                    w[i] *= 1 - lr * wd;
                    m[i] = b1 * m[i] + (1 - b1) * g;
                    v[i] = b2 * v[i] + (1 - b2) * g * g;
                    double mHat = m[i] / (1 - Math.pow(b1, t)), vHat = v[i] / (1 - Math.pow(b2, t));
                    w[i] -= lr * mHat / (Math.sqrt(vHat) + eps);
                }
                assertClose(w, p.value().toFloatArray(), 1e-6, "AdamW after step " + t);
            }
        }
    }

    @Test
    void sgdWithMomentumAndNesterovFollowsTorch() {
        double lr = 0.1, mu = 0.9, wd = 0.01;
        for (boolean nesterov : new boolean[] {false, true}) {
            try (Arena arena = Arena.ofShared()) {
                Parameter p = parameter(arena);
                Sgd opt = new Sgd(List.of(ParamGroup.of(List.of(p), wd)), lr, mu, nesterov);
                double[] w = W0.clone(), buf = new double[3];
                for (int t = 1; t <= GRADS.length; t++) {
                    setGrad(p, GRADS[t - 1]);
                    opt.step();
                    for (int i = 0; i < 3; i++) {
                        double g = GRADS[t - 1][i] + wd * w[i];
                        buf[i] = t == 1 ? g : mu * buf[i] + g;
                        w[i] -= lr * (nesterov ? g + mu * buf[i] : buf[i]);
                    }
                    assertClose(w, p.value().toFloatArray(), 1e-6, "SGD (nesterov=" + nesterov + ") after step " + t);
                }
            }
        }
    }

    @Test
    void rmsPropFollowsTorch() {
        double lr = 0.01, alpha = 0.99, eps = 1e-8, mu = 0.5;
        for (double momentum : new double[] {0, mu}) {
            try (Arena arena = Arena.ofShared()) {
                Parameter p = parameter(arena);
                RmsProp opt = new RmsProp(List.of(ParamGroup.of(List.of(p), 0)), lr, alpha, eps, momentum);
                double[] w = W0.clone(), sq = new double[3], buf = new double[3];
                for (int t = 1; t <= GRADS.length; t++) {
                    setGrad(p, GRADS[t - 1]);
                    opt.step();
                    for (int i = 0; i < 3; i++) {
                        double g = GRADS[t - 1][i];
                        sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
                        double u = g / (Math.sqrt(sq[i]) + eps);
                        if (momentum != 0) u = buf[i] = momentum * buf[i] + u;
                        w[i] -= lr * u;
                    }
                    assertClose(w, p.value().toFloatArray(), 2e-6, "RMSprop (momentum=" + momentum + ") after step " + t);
                }
            }
        }
    }

    @Test
    void groupLearningRateScaleAppliesPerGroup() {
        try (Arena arena = Arena.ofShared()) {
            Parameter a = new Parameter("a", Tensor.of(arena, new float[] {1}, 1), true);
            Parameter b = new Parameter("b", Tensor.of(arena, new float[] {1}, 1), true);
            Sgd opt = new Sgd(List.of(new ParamGroup(List.of(a), 1, 0), new ParamGroup(List.of(b), 16, 0)), 0.01, 0, false);
            setGrad(a, new double[] {1});
            setGrad(b, new double[] {1});
            opt.step();
            assertEquals(0.99f, a.value().getFlat(0), 1e-7);
            assertEquals(1 - 0.16f, b.value().getFlat(0), 1e-7);
        }
    }

    @Test
    void savedStateRestoresBitForBit() {
        try (Arena arena = Arena.ofShared()) {
            Parameter p1 = parameter(arena), p2 = parameter(arena);
            AdamW first = new AdamW(List.of(ParamGroup.of(List.of(p1), 0.1)), 0.01);
            AdamW second = new AdamW(List.of(ParamGroup.of(List.of(p2), 0.1)), 0.01);
            setGrad(p1, GRADS[0]);
            first.step();
            // Copy parameter and state into the second optimizer, then take the same next step on both.
            p1.value().copyInto(p2.value());
            Map<String, Tensor> state = first.state();
            second.loadState(state, first.stepCount());
            setGrad(p1, GRADS[1]);
            setGrad(p2, GRADS[1]);
            first.step();
            second.step();
            assertArrayEquals(p1.value().toFloatArray(), p2.value().toFloatArray());
        }
    }

    @Test
    void clippingScalesToTheMaximumGlobalNorm() {
        try (Arena arena = Arena.ofShared()) {
            Parameter a = new Parameter("a", Tensor.zeros(arena, DType.F32, 2), true);
            Parameter b = new Parameter("b", Tensor.zeros(arena, DType.F32, 1), true);
            setGrad(a, new double[] {3, 0});
            setGrad(b, new double[] {4});
            double norm = GradientClipping.clipGlobalNorm(List.of(a, b), 1.0);
            assertEquals(5.0, norm, 1e-9);
            double f = 1.0 / (5.0 + 1e-6);
            assertArrayEquals(new float[] {(float) (3 * f), 0}, a.grad().toFloatArray(), 1e-7f);
            assertArrayEquals(new float[] {(float) (4 * f)}, b.grad().toFloatArray(), 1e-7f);
            // Below the maximum nothing changes.
            assertEquals(1.0, GradientClipping.clipGlobalNorm(List.of(a, b), 10.0), 1e-6);
            assertArrayEquals(new float[] {(float) (4 * f)}, b.grad().toFloatArray(), 1e-7f);
        }
    }

    @Test
    void schedulesWarmUpThenDecay() {
        LrSchedule cosine = LrSchedule.warmupCosine(1.0, 10, 110, 0.1);
        assertEquals(0.1, cosine.lr(0), 1e-12);
        assertEquals(1.0, cosine.lr(9), 1e-12);
        assertEquals(1.0, cosine.lr(10), 1e-12);
        assertEquals(0.55, cosine.lr(60), 1e-12);
        assertEquals(0.1, cosine.lr(110), 1e-12);
        LrSchedule linear = LrSchedule.warmupLinear(2.0, 0, 100, 0);
        assertEquals(2.0, linear.lr(0), 1e-12);
        assertEquals(1.0, linear.lr(50), 1e-12);
        assertEquals(0.0, linear.lr(100), 1e-12);
        assertEquals(0.3, LrSchedule.constant(0.3).lr(12345), 0);
    }

    @Test
    void frozenParametersAreRefused() {
        try (Arena arena = Arena.ofShared()) {
            Parameter frozen = new Parameter("frozen", Tensor.zeros(arena, DType.F32, 2), false);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new AdamW(List.of(ParamGroup.of(List.of(frozen), 0)), 0.1));
            assertEquals(true, e.getMessage().contains("frozen"));
        }
    }

    private static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    private static void assertClose(double[] expected, float[] actual, double tol, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tol * Math.max(1, Math.abs(expected[i])), what + " element " + i);
        }
    }
}
