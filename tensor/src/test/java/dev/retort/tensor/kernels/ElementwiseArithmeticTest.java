package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.AWKWARD;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertBitwiseEqual;
import static dev.retort.tensor.kernels.ElementwiseTesting.assertSameBitsForAnyThreadCount;
import static dev.retort.tensor.kernels.ElementwiseTesting.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** add, mul, scale, axpy, sum, max and dot on every implementation. */
class ElementwiseArithmeticTest {

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    /** |actual − exact| ≤ ½ ulp(actual): the float result is the correctly rounded exact value. */
    private static void assertCorrectlyRounded(String what, int i, double exact, float actual) {
        double halfUlp = Math.ulp(actual) / 2;
        if (!(Math.abs(actual - exact) <= halfUlp * (1 + 1e-9))) {
            fail(what + ": element " + i + " is " + actual + ", exact " + exact + " (more than half an ulp away)");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void addAndMulAreCorrectlyRoundedForEveryStrideCombination(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(1);
        for (int n : AWKWARD) {
            for (int aStride = 0; aStride <= 1; aStride++) {
                for (int bStride = 0; bStride <= 1; bStride++) {
                    float[] a = random(rnd, aStride == 0 ? 1 : n, -10, 10), b = random(rnd, bStride == 0 ? 1 : n, -10, 10);
                    Buf ab = Buf.of(a), bb = Buf.of(b), sum = Buf.zeros(n), prod = Buf.zeros(n);
                    k.elementwise().add(n, ab.segment(), ab.offset(), aStride, bb.segment(), bb.offset(), bStride,
                            sum.segment(), sum.offset());
                    k.elementwise().mul(n, ab.segment(), ab.offset(), aStride, bb.segment(), bb.offset(), bStride,
                            prod.segment(), prod.offset());
                    String what = k + " n=" + n + " strides " + aStride + "," + bStride;
                    for (int i = 0; i < n; i++) {
                        double x = a[i * aStride], y = b[i * bStride];
                        assertCorrectlyRounded(what + " add", i, x + y, sum.get(i));
                        assertCorrectlyRounded(what + " mul", i, x * y, prod.get(i));
                    }
                    sum.assertGuardsIntact(what + " add");
                    prod.assertGuardsIntact(what + " mul");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void addWorksInPlaceAndOnLargeInputsSplitIntoTasks(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(2);
        int n = 3 * ElementwiseSupport.ELEMENT_GRAIN + 5;
        float[] a = random(rnd, n, -1, 1), b = random(rnd, n, -1, 1);
        Buf ab = Buf.of(a), bb = Buf.of(b);
        k.elementwise().add(n, ab.segment(), ab.offset(), 1, bb.segment(), bb.offset(), 1, ab.segment(), ab.offset());
        float[] expected = new float[n];
        for (int i = 0; i < n; i++) expected[i] = a[i] + b[i];
        assertBitwiseEqual(k + " in-place a += b", expected, ab.read());
        ab.assertGuardsIntact(k + " in-place add");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void scaleAndAxpyMatchTheDoubleReference(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int n : AWKWARD) {
            float[] x = random(rnd, n, -5, 5), y = random(rnd, n, -5, 5);
            float alpha = (float) rnd.nextDouble(-3, 3);
            Buf xb = Buf.of(x), yb = Buf.of(y), out = Buf.zeros(n);
            k.elementwise().scale(n, alpha, xb.segment(), xb.offset(), out.segment(), out.offset());
            k.elementwise().axpy(n, alpha, xb.segment(), xb.offset(), yb.segment(), yb.offset());
            for (int i = 0; i < n; i++) {
                assertCorrectlyRounded(k + " scale n=" + n, i, (double) alpha * x[i], out.get(i));
                // One rounding (fused) or two (a·x then + y) are both fine: within 1 ulp of the exact value.
                double exact = (double) alpha * x[i] + y[i];
                float actual = yb.get(i);
                if (!(Math.abs(actual - exact) <= Math.ulp(actual) + Math.ulp((float) (alpha * x[i])) / 2)) {
                    fail(k + " axpy n=" + n + ": element " + i + " is " + actual + ", exact " + exact);
                }
            }
            out.assertGuardsIntact(k + " scale");
            yb.assertGuardsIntact(k + " axpy");
            // In place: x ← alpha·x
            k.elementwise().scale(n, alpha, xb.segment(), xb.offset(), xb.segment(), xb.offset());
            for (int i = 0; i < n; i++) assertCorrectlyRounded(k + " in-place scale", i, (double) alpha * x[i], xb.get(i));
        }
    }

    /**
     * Summation error bound for n float terms summed in float with several accumulators and fixed chunks:
     * |error| ≤ u·(n/4 + 64)·Σ|x_i|, u = 2⁻²⁴ (a loose worst-case bound; the double-accumulating scalar
     * fallback is far inside it).
     */
    private static double sumTolerance(int n, double sumOfMagnitudes) {
        return 0x1p-24 * (n / 4.0 + 64) * sumOfMagnitudes;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void sumAndDotMatchTheDoubleReference(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(4);
        int[] sizes = {0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 1000, 4097, 2 * ElementwiseSupport.REDUCTION_CHUNK + 3};
        for (int n : sizes) {
            float[] x = random(rnd, n, -1, 2), y = random(rnd, n, -2, 1);
            Buf xb = Buf.of(x), yb = Buf.of(y);
            double sum = 0, sumAbs = 0, dot = 0, dotAbs = 0;
            for (int i = 0; i < n; i++) {
                sum += x[i];
                sumAbs += Math.abs(x[i]);
                dot += (double) x[i] * y[i];
                dotAbs += Math.abs((double) x[i] * y[i]);
            }
            float s = k.elementwise().sum(n, xb.segment(), xb.offset());
            float d = k.elementwise().dot(n, xb.segment(), xb.offset(), yb.segment(), yb.offset());
            assertTrue(Math.abs(s - sum) <= sumTolerance(n, sumAbs),
                    k + " sum n=" + n + ": got " + s + ", expected " + sum + " (tolerance " + sumTolerance(n, sumAbs) + ")");
            assertTrue(Math.abs(d - dot) <= sumTolerance(n, dotAbs),
                    k + " dot n=" + n + ": got " + d + ", expected " + dot + " (tolerance " + sumTolerance(n, dotAbs) + ")");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void sumOfSmallIntegersIsExact(Kernels k) {
        // Every partial sum is an integer below 2^24, so any summation order must give the exact answer:
        // this catches a skipped or double-counted element that a tolerance could hide.
        SplittableRandom rnd = new SplittableRandom(5);
        for (int n : new int[] {1, 5, 17, 33, 4097, 70001}) {
            float[] x = new float[n];
            long exact = 0;
            for (int i = 0; i < n; i++) {
                x[i] = rnd.nextInt(-100, 101);
                exact += (long) x[i];
            }
            Buf xb = Buf.of(x);
            assertEquals((float) exact, k.elementwise().sum(n, xb.segment(), xb.offset()), k + " sum n=" + n);
            float[] ones = new float[n];
            java.util.Arrays.fill(ones, 1f);
            Buf ob = Buf.of(ones);
            assertEquals((float) exact, k.elementwise().dot(n, xb.segment(), xb.offset(), ob.segment(), ob.offset()),
                    k + " dot with ones n=" + n);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void maxIsExactAndPropagatesNaN(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(6);
        int[] sizes = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 1000, 4097, 2 * ElementwiseSupport.REDUCTION_CHUNK + 3};
        for (int n : sizes) {
            float[] x = random(rnd, n, -1000, -10);
            float expected = Float.NEGATIVE_INFINITY;
            for (float v : x) expected = Math.max(expected, v);
            Buf xb = Buf.of(x);
            assertEquals(expected, k.elementwise().max(n, xb.segment(), xb.offset()), k + " max n=" + n);
            int at = rnd.nextInt(n);
            xb.segment().setAtIndex(ElementwiseTesting.F32, xb.offset() + at, Float.NaN);
            float m = k.elementwise().max(n, xb.segment(), xb.offset());
            assertTrue(Float.isNaN(m), k + " max n=" + n + " with NaN at " + at + " gave " + m);
        }
        Buf infs = Buf.of(new float[] {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY});
        assertEquals(Float.NEGATIVE_INFINITY, k.elementwise().max(3, infs.segment(), infs.offset()), k + " max of -inf");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void reductionsAreBitwiseIdenticalForAnyThreadCount(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(7);
        int n = 3 * ElementwiseSupport.REDUCTION_CHUNK + 17;
        float[] x = random(rnd, n, -1, 1), y = random(rnd, n, -1, 1);
        Buf xb = Buf.of(x), yb = Buf.of(y);
        assertSameBitsForAnyThreadCount(k + " sum/dot/max", () -> new float[] {
                k.elementwise().sum(n, xb.segment(), xb.offset()),
                k.elementwise().dot(n, xb.segment(), xb.offset(), yb.segment(), yb.offset()),
                k.elementwise().max(n, xb.segment(), xb.offset())});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void badSizesAndStridesAreRejectedWithTheValueNamed(Kernels k) {
        Buf small = Buf.zeros(4);
        long fits = small.segment().byteSize() / 4 - small.offset();
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> k.elementwise().add(
                (int) fits + 1, small.segment(), small.offset(), 1, small.segment(), small.offset(), 1,
                small.segment(), small.offset()));
        assertTrue(tooLong.getMessage().contains(String.valueOf(fits + 1 + small.offset())), tooLong.getMessage());
        IllegalArgumentException stride = assertThrows(IllegalArgumentException.class, () -> k.elementwise().mul(
                2, small.segment(), small.offset(), 2, small.segment(), small.offset(), 1, small.segment(), small.offset()));
        assertTrue(stride.getMessage().contains("got 2"), stride.getMessage());
        assertThrows(IllegalArgumentException.class, () -> k.elementwise().max(0, small.segment(), small.offset()));
        assertThrows(IllegalArgumentException.class, () -> k.elementwise().sum(-1, small.segment(), small.offset()));
        assertThrows(IllegalArgumentException.class, () -> k.elementwise().sum(2, small.segment(), -1));
    }
}
