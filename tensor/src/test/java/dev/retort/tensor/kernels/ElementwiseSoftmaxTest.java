package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.AWKWARD;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertClose;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertWithin;
import static dev.retort.tensor.kernels.ElementwiseTesting.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import java.lang.reflect.Method;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The vector exp, softmax and log-softmax with their backward passes, on every implementation. */
class ElementwiseSoftmaxTest {

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    static Stream<Kernels> simdImplementations() {
        return ElementwiseTesting.implementations().stream().filter(k -> k.vectorBits() > 0);
    }

    /** Calls the public test hook VectorMath.exp(float[], float[]) in the width's own copy of the SIMD package. */
    private static float[] vectorExp(Kernels k, float[] x) throws ReflectiveOperationException {
        ClassLoader loader = k.elementwise().getClass().getClassLoader();
        Class<?> math = Class.forName("dev.retort.tensor.kernels.simd.VectorMath", true, loader);
        Method exp = math.getMethod("exp", float[].class, float[].class);
        float[] out = new float[x.length];
        exp.invoke(null, x, out);
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("simdImplementations")
    void vectorExpIsWithinOneUlpOnItsWholeRange(Kernels k) throws ReflectiveOperationException {
        // A dense sweep of [-88, 88] (plus random points), every result compared with Math.exp in double. The
        // measured worst case is 0.91 ulp (normal results) at every width; subnormal results count in steps of
        // the least subnormal.
        int sweep = 200_001;
        SplittableRandom rnd = new SplittableRandom(11);
        float[] x = new float[sweep + 50_000];
        for (int i = 0; i < sweep; i++) x[i] = (float) (-88 + 176.0 * i / (sweep - 1));
        for (int i = sweep; i < x.length; i++) x[i] = (float) rnd.nextDouble(-88, 88);
        float[] e = vectorExp(k, x);
        double worstUlps = 0;
        for (int i = 0; i < x.length; i++) {
            double exact = Math.exp(x[i]);
            double ulps;
            if (exact >= Float.MIN_NORMAL) {
                ulps = Math.abs(e[i] - exact) / Math.ulp((float) exact);
            } else {
                ulps = Math.abs(e[i] - exact) / Float.MIN_VALUE;  // subnormal results: absolute, in subnormal steps
            }
            worstUlps = Math.max(worstUlps, ulps);
            if (!(ulps <= 1)) fail(k + " exp(" + x[i] + ") = " + e[i] + ", exact " + exact + " (" + ulps + " ulp)");
        }
        assertTrue(worstUlps > 0, "a perfect exp on 250k points is implausible; is the hook computing anything?");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("simdImplementations")
    void vectorExpHandlesInfinitiesNaNAndTheRangeEnds(Kernels k) throws ReflectiveOperationException {
        float[] x = {Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, Float.NaN, 0f, -0f, 89f, 88.8f, 1000f, -104f,
                -200f, -87.5f, -100f, 88.7f};
        float[] e = vectorExp(k, x);
        assertEquals(0f, e[0], "exp(-inf)");
        assertEquals(Float.POSITIVE_INFINITY, e[1], "exp(+inf)");
        assertTrue(Float.isNaN(e[2]), "exp(NaN) = " + e[2]);
        assertEquals(1f, e[3], "exp(0)");
        assertEquals(1f, e[4], "exp(-0)");
        assertEquals(Float.POSITIVE_INFINITY, e[5], "exp(89)");
        assertEquals(Float.POSITIVE_INFINITY, e[6], "exp(88.8)");
        assertEquals(Float.POSITIVE_INFINITY, e[7], "exp(1000)");
        assertEquals(0f, e[8], "exp(-104)");
        assertEquals(0f, e[9], "exp(-200)");
        assertEquals((float) Math.exp(-87.5), e[10], Float.MIN_VALUE, "exp(-87.5) (subnormal)");
        assertEquals((float) Math.exp(-100), e[11], Float.MIN_VALUE, "exp(-100) (subnormal)");
        assertEquals((float) Math.exp(88.7f), e[12], 2 * Math.ulp((float) Math.exp(88.7f)), "exp(88.7) (near overflow)");
    }

    // ---- double references --------------------------------------------------------------------------

    static double[] softmaxRef(float[] x, int rows, int cols) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < cols; j++) max = Math.max(max, x[r * cols + j]);
            for (int j = 0; j < cols; j++) sum += Math.exp(x[r * cols + j] - max);
            for (int j = 0; j < cols; j++) y[r * cols + j] = Math.exp(x[r * cols + j] - max) / sum;
        }
        return y;
    }

    static double[] logSoftmaxRef(double[] x, int rows, int cols) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int j = 0; j < cols; j++) max = Math.max(max, x[r * cols + j]);
            for (int j = 0; j < cols; j++) sum += Math.exp(x[r * cols + j] - max);
            for (int j = 0; j < cols; j++) y[r * cols + j] = x[r * cols + j] - max - Math.log(sum);
        }
        return y;
    }

    static double[] softmaxRef(double[] x, int rows, int cols) {
        double[] y = logSoftmaxRef(x, rows, cols);
        for (int i = 0; i < y.length; i++) y[i] = Math.exp(y[i]);
        return y;
    }

    /** dx = y ⊙ (dy − Σ dy·y), row by row. */
    static double[] softmaxBackwardRef(double[] y, double[] dy, int rows, int cols) {
        double[] dx = new double[y.length];
        for (int r = 0; r < rows; r++) {
            double dot = 0;
            for (int j = 0; j < cols; j++) dot += dy[r * cols + j] * y[r * cols + j];
            for (int j = 0; j < cols; j++) dx[r * cols + j] = y[r * cols + j] * (dy[r * cols + j] - dot);
        }
        return dx;
    }

    /** dx = dy − exp(y)·Σ dy, row by row, for y = log-softmax output. */
    static double[] logSoftmaxBackwardRef(double[] y, double[] dy, int rows, int cols) {
        double[] dx = new double[y.length];
        for (int r = 0; r < rows; r++) {
            double total = 0;
            for (int j = 0; j < cols; j++) total += dy[r * cols + j];
            for (int j = 0; j < cols; j++) dx[r * cols + j] = dy[r * cols + j] - Math.exp(y[r * cols + j]) * total;
        }
        return dx;
    }

    private interface Forward {
        double[] apply(double[] x);
    }

    /** d/dx_i of Σ dy ⊙ f(x) by central differences in double. */
    static double[] finiteDifference(Forward f, double[] x, double[] dy, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            x[i] = saved + h;
            double plus = dotProduct(f.apply(x), dy);
            x[i] = saved - h;
            double minus = dotProduct(f.apply(x), dy);
            x[i] = saved;
            g[i] = (plus - minus) / (2 * h);
        }
        return g;
    }

    static double dotProduct(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    // ---- forward ------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmaxMatchesDoubleReferenceOnAwkwardShapes(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(12);
        for (int cols : AWKWARD) {
            for (int rows : new int[] {1, 3}) {
                float[] x = random(rnd, rows * cols, -30, 30);
                Buf xb = Buf.of(x), out = Buf.zeros(rows * cols);
                k.elementwise().softmax(rows, cols, xb.segment(), xb.offset(), out.segment(), out.offset());
                // Relative 2e-5: the float row sum (up to ~4k terms) and the reciprocal; tiny outputs absolute.
                assertClose(k + " softmax " + rows + "x" + cols, softmaxRef(x, rows, cols), out.read(), 1e-30, 2e-5);
                out.assertGuardsIntact(k + " softmax");

                Buf lout = Buf.zeros(rows * cols);
                k.elementwise().logSoftmax(rows, cols, xb.segment(), xb.offset(), lout.segment(), lout.offset());
                // log-probabilities down to about −60: absolute 2e-5 for the log Σ, plus rounding of x − max.
                assertClose(k + " logSoftmax " + rows + "x" + cols,
                        logSoftmaxRef(ElementwiseTesting.toDouble(x), rows, cols), lout.read(), 2e-5, 1e-6);
                lout.assertGuardsIntact(k + " logSoftmax");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmaxTreatsMinusInfinityAsAMaskAndWorksInPlace(Kernels k) {
        int rows = 2, cols = 37;
        SplittableRandom rnd = new SplittableRandom(13);
        float[] x = random(rnd, rows * cols, -5, 5);
        for (int j = 0; j < cols; j++) if (j % 3 != 0) x[j] = Float.NEGATIVE_INFINITY;  // row 0: most masked
        x[cols + cols - 1] = Float.NEGATIVE_INFINITY;                                    // row 1: last masked
        double[] expected = softmaxRef(x, rows, cols);
        Buf xb = Buf.of(x);
        k.elementwise().softmax(rows, cols, xb.segment(), xb.offset(), xb.segment(), xb.offset());
        float[] y = xb.read();
        for (int i = 0; i < y.length; i++) {
            if (x[i] == Float.NEGATIVE_INFINITY) assertEquals(0f, y[i], k + " masked entry " + i);
        }
        assertClose(k + " in-place masked softmax", expected, y, 1e-30, 2e-5);

        Buf lb = Buf.of(x);
        k.elementwise().logSoftmax(rows, cols, lb.segment(), lb.offset(), lb.segment(), lb.offset());
        float[] ly = lb.read();
        for (int i = 0; i < ly.length; i++) {
            if (x[i] == Float.NEGATIVE_INFINITY) assertEquals(Float.NEGATIVE_INFINITY, ly[i], k + " masked log entry " + i);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmaxRowsAreSplitAcrossTasksConsistently(Kernels k) {
        // Enough rows for several tasks; each row must match the reference and be identical for any thread count.
        int rows = 200, cols = 333;
        float[] x = random(new SplittableRandom(14), rows * cols, -10, 10);
        Buf xb = Buf.of(x);
        ElementwiseTesting.assertSameBitsForAnyThreadCount(k + " softmax", () -> {
            Buf out = Buf.zeros(rows * cols);
            k.elementwise().softmax(rows, cols, xb.segment(), xb.offset(), out.segment(), out.offset());
            return out.read();
        });
        Buf out = Buf.zeros(rows * cols);
        k.elementwise().softmax(rows, cols, xb.segment(), xb.offset(), out.segment(), out.offset());
        assertClose(k + " softmax 200x333", softmaxRef(x, rows, cols), out.read(), 1e-30, 2e-5);
    }

    // ---- backward -----------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void softmaxBackwardMatchesAnalyticAndFiniteDifferenceReferences(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(15);
        for (int cols : new int[] {1, 2, 3, 7, 17, 33, 100}) {
            int rows = 2;
            double[] x = ElementwiseTesting.toDouble(random(rnd, rows * cols, -3, 3));
            double[] dy = ElementwiseTesting.toDouble(random(rnd, rows * cols, -1, 1));
            double[] y = softmaxRef(x, rows, cols);
            double[] analytic = softmaxBackwardRef(y, dy, rows, cols);
            // The formula itself: central differences of Σ dy ⊙ softmax(x) in double (error ~h² ≈ 1e-10).
            double[] numeric = finiteDifference(v -> softmaxRef(v, rows, cols), x, dy, 1e-5);
            assertClose("softmax backward formula vs finite differences, cols=" + cols, numeric,
                    toFloat(analytic), 1e-7, 1e-6);
            // The kernel: dx starts non-zero, and must accumulate.
            float[] yf = toFloat(y), dyf = toFloat(dy), dx0 = random(rnd, rows * cols, -1, 1);
            Buf yb = Buf.of(yf), dyb = Buf.of(dyf), dxb = Buf.of(dx0);
            k.elementwise().softmaxBackward(rows, cols, yb.segment(), yb.offset(), dyb.segment(), dyb.offset(),
                    dxb.segment(), dxb.offset());
            double[] expected = softmaxBackwardRef(ElementwiseTesting.toDouble(yf), ElementwiseTesting.toDouble(dyf), rows, cols);
            double[] tol = new double[expected.length];
            for (int i = 0; i < expected.length; i++) {
                expected[i] += dx0[i];
                tol[i] = 1e-6 * (Math.abs(dx0[i]) + Math.abs(yf[i]) * (Math.abs(dyf[i]) + 1) + 1e-3);
            }
            assertWithin(k + " softmaxBackward cols=" + cols, expected, dxb.read(), tol);
            dxb.assertGuardsIntact(k + " softmaxBackward");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void logSoftmaxBackwardMatchesAnalyticAndFiniteDifferenceReferences(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(16);
        for (int cols : new int[] {1, 2, 3, 7, 17, 33, 100}) {
            int rows = 2;
            double[] x = ElementwiseTesting.toDouble(random(rnd, rows * cols, -3, 3));
            double[] dy = ElementwiseTesting.toDouble(random(rnd, rows * cols, -1, 1));
            double[] y = logSoftmaxRef(x, rows, cols);
            double[] analytic = logSoftmaxBackwardRef(y, dy, rows, cols);
            double[] numeric = finiteDifference(v -> logSoftmaxRef(v, rows, cols), x, dy, 1e-5);
            assertClose("log-softmax backward formula vs finite differences, cols=" + cols, numeric,
                    toFloat(analytic), 1e-7, 1e-6);
            float[] yf = toFloat(y), dyf = toFloat(dy), dx0 = random(rnd, rows * cols, -1, 1);
            Buf yb = Buf.of(yf), dyb = Buf.of(dyf), dxb = Buf.of(dx0);
            k.elementwise().logSoftmaxBackward(rows, cols, yb.segment(), yb.offset(), dyb.segment(), dyb.offset(),
                    dxb.segment(), dxb.offset());
            double[] expected = logSoftmaxBackwardRef(ElementwiseTesting.toDouble(yf), ElementwiseTesting.toDouble(dyf), rows, cols);
            double[] tol = new double[expected.length];
            for (int i = 0; i < expected.length; i++) {
                expected[i] += dx0[i];
                tol[i] = 2e-6 * (Math.abs(dx0[i]) + Math.abs(dyf[i]) + Math.exp(yf[i]) * cols + 1e-3);
            }
            assertWithin(k + " logSoftmaxBackward cols=" + cols, expected, dxb.read(), tol);
            dxb.assertGuardsIntact(k + " logSoftmaxBackward");
        }
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }
}
