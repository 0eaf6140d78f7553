package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.AWKWARD;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertClose;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertWithin;
import static dev.retort.tensor.kernels.ElementwiseTesting.random;
import static dev.retort.tensor.kernels.ElementwiseTesting.toDouble;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** RMSNorm forward and backward on every implementation. */
class ElementwiseRmsNormTest {
    private static final float EPS = 1e-5f;

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    static double rstdRef(double[] x, int r, int cols, double eps) {
        double ss = 0;
        for (int j = 0; j < cols; j++) ss += x[r * cols + j] * x[r * cols + j];
        return 1 / Math.sqrt(ss / cols + eps);
    }

    static double[] rmsNormRef(double[] x, double[] w, int rows, int cols, double eps) {
        double[] y = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double s = rstdRef(x, r, cols, eps);
            for (int j = 0; j < cols; j++) y[r * cols + j] = x[r * cols + j] * s * w[j];
        }
        return y;
    }

    /** Analytic backward in double: returns dx followed by dweight (cols entries). */
    static double[] rmsNormBackwardRef(double[] x, double[] w, double[] dy, int rows, int cols, double eps) {
        double[] out = new double[rows * cols + cols];
        for (int r = 0; r < rows; r++) {
            double s = rstdRef(x, r, cols, eps), xg = 0;
            for (int j = 0; j < cols; j++) xg += x[r * cols + j] * w[j] * dy[r * cols + j];
            for (int j = 0; j < cols; j++) {
                int i = r * cols + j;
                out[i] = s * w[j] * dy[i] - x[i] * s * s * s * xg / cols;
                out[rows * cols + j] += dy[i] * x[i] * s;
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rmsNormMatchesDoubleReferenceOnAwkwardShapes(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(21);
        for (int cols : AWKWARD) {
            int rows = 3;
            float[] x = random(rnd, rows * cols, -2, 2), w = random(rnd, cols, 0.5, 1.5);
            Buf xb = Buf.of(x), wb = Buf.of(w), out = Buf.zeros(rows * cols), rstd = Buf.zeros(rows);
            k.elementwise().rmsNorm(rows, cols, EPS, xb.segment(), xb.offset(), wb.segment(), wb.offset(),
                    out.segment(), out.offset(), rstd.segment(), rstd.offset());
            double[] xd = toDouble(x);
            double[] rstdExpected = new double[rows];
            for (int r = 0; r < rows; r++) rstdExpected[r] = rstdRef(xd, r, cols, EPS);
            // rstd: relative 1e-6 (float sum of squares over ≤ 4k terms, one square root); out adds two roundings.
            assertClose(k + " rstd cols=" + cols, rstdExpected, rstd.read(), 0, 1e-6);
            assertClose(k + " rmsNorm cols=" + cols, rmsNormRef(xd, toDouble(w), rows, cols, EPS), out.read(), 1e-30, 2e-6);
            out.assertGuardsIntact(k + " rmsNorm out");
            rstd.assertGuardsIntact(k + " rmsNorm rstd");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rmsNormWorksInPlaceWithoutRstd(Kernels k) {
        int rows = 4, cols = 45;
        SplittableRandom rnd = new SplittableRandom(22);
        float[] x = random(rnd, rows * cols, -3, 3), w = random(rnd, cols, -1, 1);
        double[] expected = rmsNormRef(toDouble(x), toDouble(w), rows, cols, EPS);
        Buf xb = Buf.of(x), wb = Buf.of(w);
        k.elementwise().rmsNorm(rows, cols, EPS, xb.segment(), xb.offset(), wb.segment(), wb.offset(),
                xb.segment(), xb.offset(), null, 0);
        assertClose(k + " in-place rmsNorm", expected, xb.read(), 1e-30, 2e-6);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rmsNormBackwardMatchesAnalyticAndFiniteDifferenceReferences(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(23);
        for (int cols : new int[] {1, 2, 3, 7, 17, 33, 100, 1000}) {
            int rows = 3;
            float[] x = random(rnd, rows * cols, -2, 2), w = random(rnd, cols, 0.5, 1.5), dy = random(rnd, rows * cols, -1, 1);
            double[] xd = toDouble(x), wd = toDouble(w), dyd = toDouble(dy);
            double[] analytic = rmsNormBackwardRef(xd, wd, dyd, rows, cols, EPS);
            if (cols <= 100) {
                // The formula: central differences of Σ dy ⊙ rmsNorm(x, w) with respect to x and to w, in double.
                double h = 1e-6;
                for (int i = 0; i < rows * cols + cols; i++) {
                    double[] target = i < rows * cols ? xd : wd;
                    int at = i < rows * cols ? i : i - rows * cols;
                    double saved = target[at];
                    target[at] = saved + h;
                    double plus = ElementwiseSoftmaxTest.dotProduct(rmsNormRef(xd, wd, rows, cols, EPS), dyd);
                    target[at] = saved - h;
                    double minus = ElementwiseSoftmaxTest.dotProduct(rmsNormRef(xd, wd, rows, cols, EPS), dyd);
                    target[at] = saved;
                    double numeric = (plus - minus) / (2 * h);
                    assertTrue(Math.abs(numeric - analytic[i]) <= 1e-6 * (1 + Math.abs(numeric)),
                            "rmsNorm backward formula, cols=" + cols + ", gradient " + i + ": analytic " + analytic[i]
                                    + ", finite difference " + numeric);
                }
            }
            // The kernel, accumulating into non-zero dx and dweight.
            float[] rstd = new float[rows];
            for (int r = 0; r < rows; r++) rstd[r] = (float) rstdRef(xd, r, cols, EPS);
            float[] dx0 = random(rnd, rows * cols, -1, 1), dw0 = random(rnd, cols, -1, 1);
            Buf xb = Buf.of(x), wb = Buf.of(w), rb = Buf.of(rstd), dyb = Buf.of(dy), dxb = Buf.of(dx0), dwb = Buf.of(dw0);
            k.elementwise().rmsNormBackward(rows, cols, xb.segment(), xb.offset(), wb.segment(), wb.offset(),
                    rb.segment(), rb.offset(), dyb.segment(), dyb.offset(), dxb.segment(), dxb.offset(),
                    dwb.segment(), dwb.offset());
            double[] dxExpected = new double[rows * cols], dxTol = new double[rows * cols];
            double[] dwExpected = new double[cols], dwTol = new double[cols];
            for (int r = 0; r < rows; r++) {
                double s = rstd[r], xg = 0, xgAbs = 0;
                for (int j = 0; j < cols; j++) {
                    xg += xd[r * cols + j] * wd[j] * dyd[r * cols + j];
                    xgAbs += Math.abs(xd[r * cols + j] * wd[j] * dyd[r * cols + j]);
                }
                for (int j = 0; j < cols; j++) {
                    int i = r * cols + j;
                    double first = s * wd[j] * dyd[i], second = xd[i] * s * s * s * xg / cols;
                    dxExpected[i] = dx0[i] + first - second;
                    // A few ulps of each term, and the float row sum Σ x·w·dy (relative to Σ|x·w·dy|).
                    dxTol[i] = 1e-6 * (Math.abs(dx0[i]) + Math.abs(first) + Math.abs(second))
                            + 1e-6 * Math.abs(xd[i] * s * s * s) * xgAbs / cols;
                    dwExpected[j] += dyd[i] * xd[i] * s;
                    dwTol[j] += 1e-6 * Math.abs(dyd[i] * xd[i] * s);
                }
            }
            for (int j = 0; j < cols; j++) {
                dwExpected[j] += dw0[j];
                dwTol[j] += 1e-6 * Math.abs(dw0[j]);
            }
            assertWithin(k + " rmsNormBackward dx cols=" + cols, dxExpected, dxb.read(), dxTol);
            assertWithin(k + " rmsNormBackward dweight cols=" + cols, dwExpected, dwb.read(), dwTol);
            dxb.assertGuardsIntact(k + " dx");
            dwb.assertGuardsIntact(k + " dweight");

            // dweight may be null (a frozen weight): dx must be the same.
            Buf dxb2 = Buf.of(dx0);
            k.elementwise().rmsNormBackward(rows, cols, xb.segment(), xb.offset(), wb.segment(), wb.offset(),
                    rb.segment(), rb.offset(), dyb.segment(), dyb.offset(), dxb2.segment(), dxb2.offset(), null, 0);
            ElementwiseTesting.assertBitwiseEqual(k + " dx without dweight", dxb.read(), dxb2.read());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rmsNormBackwardDweightIsBitwiseIdenticalForAnyThreadCount(Kernels k) {
        // 300 × 200 = 60k elements: several row blocks, so dweight combines several partials.
        int rows = 300, cols = 200;
        SplittableRandom rnd = new SplittableRandom(24);
        float[] x = random(rnd, rows * cols, -2, 2), w = random(rnd, cols, 0.5, 1.5), dy = random(rnd, rows * cols, -1, 1);
        float[] rstd = random(rnd, rows, 0.5, 2);
        Buf xb = Buf.of(x), wb = Buf.of(w), rb = Buf.of(rstd), dyb = Buf.of(dy);
        assertTrue(ElementwiseSupport.rowTasks(rows, cols) > 1, "the test needs more than one row block");
        ElementwiseTesting.assertSameBitsForAnyThreadCount(k + " rmsNormBackward dx and dweight", () -> {
            Buf dxb = Buf.zeros(rows * cols), dwb = Buf.zeros(cols);
            k.elementwise().rmsNormBackward(rows, cols, xb.segment(), xb.offset(), wb.segment(), wb.offset(),
                    rb.segment(), rb.offset(), dyb.segment(), dyb.offset(), dxb.segment(), dxb.offset(),
                    dwb.segment(), dwb.offset());
            float[] both = new float[rows * cols + cols];
            System.arraycopy(dxb.read(), 0, both, 0, rows * cols);
            System.arraycopy(dwb.read(), 0, both, rows * cols, cols);
            return both;
        });
    }
}
