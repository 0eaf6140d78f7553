package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The vector log and log1p of {@code simd/VectorMath} (FreeBSD logf's method), on every SIMD width, against
 * {@link Math#log} and {@link Math#log1p} in double: within one ulp over every binade, subnormals included, and
 * the special values. Ready for the divergences whose KD terms need a log (jsd, skl, srkl).
 */
class VectorLogTest {

    static Stream<Kernels> simdImplementations() {
        return ElementwiseTesting.implementations().stream().filter(k -> k.vectorBits() > 0);
    }

    /** Calls a public test hook VectorMath.name(float[], float[]) in the width's own copy of the SIMD package. */
    private static float[] vectorMath(Kernels k, String name, float[] x) throws ReflectiveOperationException {
        ClassLoader loader = k.elementwise().getClass().getClassLoader();
        Class<?> math = Class.forName("dev.retort.tensor.kernels.simd.VectorMath", true, loader);
        Method f = math.getMethod(name, float[].class, float[].class);
        float[] out = new float[x.length];
        f.invoke(null, x, out);
        return out;
    }

    private static float[] vectorLog(Kernels k, float[] x) throws ReflectiveOperationException {
        return vectorMath(k, "log", x);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("simdImplementations")
    void vectorLog1pIsWithinOneUlpOnZeroToOne(Kernels k) throws ReflectiveOperationException {
        // its domain, [0, 1]: a dense sweep, both sides of the switch at ½, and tiny values down to subnormals,
        // where log1p(e) = e must keep full relative accuracy
        List<Float> xs = new ArrayList<>();
        for (int i = 0; i <= 200_000; i++) xs.add((float) (i / 200_000.0));
        for (int i = -2000; i <= 2000; i++) xs.add(0.5f + i * Math.ulp(0.5f));
        for (int e = -149; e < 0; e++) xs.add((float) Math.scalb(1.37, e));
        xs.add(Float.MIN_VALUE);
        xs.add(Math.nextDown(1f));
        float[] x = new float[xs.size()];
        for (int i = 0; i < x.length; i++) x[i] = xs.get(i);
        float[] got = vectorMath(k, "log1p", x);
        double worst = 0;
        for (int i = 0; i < x.length; i++) {
            double exact = Math.log1p(x[i]);
            double ulps = exact == 0 ? Math.abs(got[i]) / Float.MIN_VALUE : Math.abs(got[i] - exact) / Math.ulp((float) exact);
            worst = Math.max(worst, ulps);
            if (!(ulps <= 1)) fail(k + " log1p(" + x[i] + ") = " + got[i] + ", exact " + exact + " (" + ulps + " ulp)");
        }
        System.out.printf(Locale.ROOT, "%s vector log1p on [0, 1]: worst %.3f ulp over %d points%n", k, worst, x.length);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("simdImplementations")
    void vectorLogIsWithinOneUlpOverEveryBinade(Kernels k) throws ReflectiveOperationException {
        // Every binade of the positive floats, subnormals included (random mantissas), plus a dense sweep around
        // 1 where log x ≈ x − 1 is small and the relative error is hardest to keep.
        SplittableRandom rnd = new SplittableRandom(31);
        List<Float> xs = new ArrayList<>();
        for (int e = -149; e <= 127; e++) {
            for (int i = 0; i < 400; i++) {
                float v = (float) (Math.scalb(1.0, e) * (1 + rnd.nextDouble()));
                if (v > 0 && Float.isFinite(v)) xs.add(v);
            }
        }
        for (int i = -20_000; i <= 20_000; i++) xs.add((float) (1 + i * 2e-5));
        for (int i = 1; i < 3000; i++) xs.add(Float.intBitsToFloat(i));                 // the smallest subnormals
        xs.add(Float.MIN_VALUE);
        xs.add(Float.MIN_NORMAL);
        xs.add(Float.MAX_VALUE);
        xs.add(Math.nextDown(1f));
        xs.add(Math.nextUp(1f));
        float[] x = new float[xs.size()];
        for (int i = 0; i < x.length; i++) x[i] = xs.get(i);
        float[] got = vectorLog(k, x);
        double worst = 0;
        float worstAt = 0;
        for (int i = 0; i < x.length; i++) {
            double exact = Math.log(x[i]);
            double ulps = exact == 0 ? Math.abs(got[i]) / Float.MIN_VALUE : Math.abs(got[i] - exact) / Math.ulp((float) exact);
            if (ulps > worst) {
                worst = ulps;
                worstAt = x[i];
            }
            if (!(ulps <= 1)) fail(k + " log(" + x[i] + ") = " + got[i] + ", exact " + exact + " (" + ulps + " ulp)");
        }
        System.out.printf(Locale.ROOT, "%s vector log: worst %.3f ulp at %s over %d points%n", k, worst, worstAt, x.length);
        assertTrue(worst > 0, "a perfect log on " + x.length + " points is implausible; is the hook computing anything?");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("simdImplementations")
    void vectorLogHandlesZeroInfinityNaNAndNegatives(Kernels k) throws ReflectiveOperationException {
        float[] x = {0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, -1f, -Float.MIN_VALUE, 1f,
                Float.MIN_VALUE, Float.MAX_VALUE, 2f, 0.5f};
        float[] y = vectorLog(k, x);
        assertEquals(Float.NEGATIVE_INFINITY, y[0], "log(0)");
        assertEquals(Float.NEGATIVE_INFINITY, y[1], "log(-0)");
        assertEquals(Float.POSITIVE_INFINITY, y[2], "log(+inf)");
        for (int i = 3; i <= 6; i++) assertTrue(Float.isNaN(y[i]), "log(" + x[i] + ") = " + y[i]);
        assertEquals(0f, y[7], "log(1)");
        assertEquals((float) Math.log(Float.MIN_VALUE), y[8], Math.ulp(y[8]), "log(MIN_VALUE)");
        assertEquals((float) Math.log(Float.MAX_VALUE), y[9], Math.ulp(y[9]), "log(MAX_VALUE)");
        assertEquals((float) Math.log(2), y[10], Math.ulp(y[10]), "log(2)");
        assertEquals((float) Math.log(0.5), y[11], Math.ulp(y[11]), "log(0.5)");
    }

}
