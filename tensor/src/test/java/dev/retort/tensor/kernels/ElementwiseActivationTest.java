package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.AWKWARD;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertClose;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertWithin;
import static dev.retort.tensor.kernels.ElementwiseTesting.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** SiLU and SwiGLU, forward and backward, on every implementation. */
class ElementwiseActivationTest {

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    static double silu(double x) {
        return x * sigmoid(x);
    }

    /** silu'(x) = σ(x)·(1 + x·(1 − σ(x))). */
    static double siluSlope(double x) {
        double s = sigmoid(x);
        return s * (1 + x * (1 - s));
    }

    /** Inputs over the useful range plus the far tails, where σ saturates or exp overflows. */
    static float[] inputs(SplittableRandom rnd, int n) {
        float[] x = random(rnd, n, -20, 20);
        float[] tails = {0f, -0f, 1e-20f, -1e-20f, 50f, -50f, 87f, -87f, 95f, -95f, 200f, -200f};
        for (int i = 0; i < Math.min(n, tails.length); i++) x[(i * 7919) % n] = tails[i];
        return x;
    }

    // Relative 1e-6 (about 8 ulp: exp ≤ 1 ulp, a division and two products) plus 1e-35 absolute, for the far
    // negative tail where exp(−x) overflows and silu(x) ≈ x·e^x (< 1e-36) comes out as 0.
    private static final double REL = 1e-6, ABS = 1e-35;

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void siluAndSwigluMatchDoubleReference(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(41);
        for (int n : AWKWARD) {
            float[] x = inputs(rnd, n), up = random(rnd, n, -3, 3);
            Buf xb = Buf.of(x), ub = Buf.of(up), out = Buf.zeros(n), sw = Buf.zeros(n);
            k.elementwise().silu(n, xb.segment(), xb.offset(), out.segment(), out.offset());
            k.elementwise().swiglu(n, xb.segment(), xb.offset(), ub.segment(), ub.offset(), sw.segment(), sw.offset());
            double[] siluExpected = new double[n], swigluExpected = new double[n];
            for (int i = 0; i < n; i++) {
                siluExpected[i] = silu(x[i]);
                swigluExpected[i] = silu(x[i]) * up[i];
            }
            assertClose(k + " silu n=" + n, siluExpected, out.read(), ABS, REL);
            assertClose(k + " swiglu n=" + n, swigluExpected, sw.read(), ABS * 3, REL);
            out.assertGuardsIntact(k + " silu");
            sw.assertGuardsIntact(k + " swiglu");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void siluAndSwigluWorkInPlaceAndAtInfinity(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(42);
        int n = 77;
        float[] x = inputs(rnd, n), up = random(rnd, n, -3, 3);
        Buf xb = Buf.of(x);
        k.elementwise().silu(n, xb.segment(), xb.offset(), xb.segment(), xb.offset());
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = silu(x[i]);
        assertClose(k + " in-place silu", expected, xb.read(), ABS, REL);
        Buf gb = Buf.of(x), ub = Buf.of(up);
        k.elementwise().swiglu(n, gb.segment(), gb.offset(), ub.segment(), ub.offset(), gb.segment(), gb.offset());
        for (int i = 0; i < n; i++) expected[i] = silu(x[i]) * up[i];
        assertClose(k + " in-place swiglu (out = gate)", expected, gb.read(), ABS * 3, REL);

        Buf inf = Buf.of(new float[] {Float.POSITIVE_INFINITY, Float.NaN});
        Buf infOut = Buf.zeros(2);
        k.elementwise().silu(2, inf.segment(), inf.offset(), infOut.segment(), infOut.offset());
        assertEquals(Float.POSITIVE_INFINITY, infOut.get(0), k + " silu(+inf)");
        assertTrue(Float.isNaN(infOut.get(1)), k + " silu(NaN) = " + infOut.get(1));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void siluAndSwigluBackwardMatchAnalyticAndFiniteDifferenceReferences(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(43);
        // The formula: silu'(x) against central differences of silu in double.
        for (int i = 0; i < 2000; i++) {
            double x = rnd.nextDouble(-20, 20), h = 1e-5;
            double numeric = (silu(x + h) - silu(x - h)) / (2 * h);
            assertTrue(Math.abs(numeric - siluSlope(x)) <= 1e-8, "silu'(" + x + "): analytic " + siluSlope(x)
                    + ", finite difference " + numeric);
        }
        for (int n : AWKWARD) {
            float[] x = inputs(rnd, n), up = random(rnd, n, -3, 3), dy = random(rnd, n, -1, 1);
            float[] dx0 = random(rnd, n, -1, 1), dgate0 = random(rnd, n, -1, 1), dup0 = random(rnd, n, -1, 1);
            Buf xb = Buf.of(x), ub = Buf.of(up), dyb = Buf.of(dy), dxb = Buf.of(dx0), dgb = Buf.of(dgate0), dub = Buf.of(dup0);
            k.elementwise().siluBackward(n, xb.segment(), xb.offset(), dyb.segment(), dyb.offset(), dxb.segment(), dxb.offset());
            k.elementwise().swigluBackward(n, xb.segment(), xb.offset(), ub.segment(), ub.offset(), dyb.segment(),
                    dyb.offset(), dgb.segment(), dgb.offset(), dub.segment(), dub.offset());
            double[] dxE = new double[n], dxT = new double[n], dgE = new double[n], dgT = new double[n];
            double[] duE = new double[n], duT = new double[n];
            for (int i = 0; i < n; i++) {
                double slope = siluSlope(x[i]);
                dxE[i] = dx0[i] + dy[i] * slope;
                dxT[i] = REL * (Math.abs(dx0[i]) + Math.abs(dy[i] * slope)) + ABS;
                dgE[i] = dgate0[i] + dy[i] * up[i] * slope;
                dgT[i] = REL * (Math.abs(dgate0[i]) + Math.abs(dy[i] * up[i] * slope)) + ABS;
                duE[i] = dup0[i] + dy[i] * silu(x[i]);
                duT[i] = REL * (Math.abs(dup0[i]) + Math.abs(dy[i] * silu(x[i]))) + ABS;
            }
            assertWithin(k + " siluBackward n=" + n, dxE, dxb.read(), dxT);
            assertWithin(k + " swigluBackward dgate n=" + n, dgE, dgb.read(), dgT);
            assertWithin(k + " swigluBackward dup n=" + n, duE, dub.read(), duT);
            dxb.assertGuardsIntact(k + " siluBackward");
            dgb.assertGuardsIntact(k + " dgate");
            dub.assertGuardsIntact(k + " dup");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void activationsSplitAcrossTasksAreIdenticalForAnyThreadCount(Kernels k) {
        int n = 2 * ElementwiseSupport.ELEMENT_GRAIN + 11;  // more than one task
        SplittableRandom rnd = new SplittableRandom(44);
        float[] x = inputs(rnd, n), up = random(rnd, n, -3, 3);
        Buf xb = Buf.of(x), ub = Buf.of(up);
        ElementwiseTesting.assertSameBitsForAnyThreadCount(k + " swiglu", () -> {
            Buf out = Buf.zeros(n);
            k.elementwise().swiglu(n, xb.segment(), xb.offset(), ub.segment(), ub.offset(), out.segment(), out.offset());
            return out.read();
        });
        Buf out = Buf.zeros(n);
        k.elementwise().silu(n, xb.segment(), xb.offset(), out.segment(), out.offset());
        double[] expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = silu(x[i]);
        assertClose(k + " silu n=" + n, expected, out.read(), ABS, REL);
    }
}
