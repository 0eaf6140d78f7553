package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/** Shared test support for the element-wise kernel tests: buffers with guards, random data, comparisons. */
final class ElementwiseTesting {
    private ElementwiseTesting() {}

    /** Loaded once: each {@link Kernels#vector} call loads (and JIT-compiles) a fresh copy of the SIMD classes. */
    static final List<Kernels> ALL = Kernels.allImplementations();

    static List<Kernels> implementations() {
        return ALL;
    }

    /** Sizes that hit every path: below one vector at 512 bits, around vector multiples, and long. */
    static final int[] AWKWARD = {1, 2, 3, 7, 15, 16, 17, 31, 33, 64, 100, 1000, 4097};

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Segments are shared across the pool's threads, so they come from an automatic (shared) arena. */
    static final Arena ARENA = Arena.ofAuto();

    /** A value no kernel writes; any change in a guard region means a write out of bounds. */
    static final float GUARD = -7.77e27f;
    static final int GUARD_ELEMENTS = 37;

    /**
     * n floats at a non-zero element offset inside a larger segment, with guard values before and after.
     */
    record Buf(MemorySegment segment, long offset, int n) {
        static Buf of(float[] values) {
            return of(values, 5);
        }

        static Buf of(float[] values, int offset) {
            MemorySegment s = ARENA.allocate((long) (offset + values.length + GUARD_ELEMENTS) * 4, 64);
            for (long i = 0; i < s.byteSize() / 4; i++) s.setAtIndex(F32, i, GUARD);
            MemorySegment.copy(values, 0, s, F32, (long) offset * 4, values.length);
            return new Buf(s, offset, values.length);
        }

        static Buf zeros(int n) {
            return of(new float[n]);
        }

        float[] read() {
            float[] out = new float[n];
            MemorySegment.copy(segment, F32, offset * 4, out, 0, n);
            return out;
        }

        float get(int i) {
            return segment.getAtIndex(F32, offset + i);
        }

        /** Fails if anything outside [offset, offset + n) changed. */
        void assertGuardsIntact(String what) {
            long total = segment.byteSize() / 4;
            for (long i = 0; i < total; i++) {
                if (i >= offset && i < offset + n) continue;
                float v = segment.getAtIndex(F32, i);
                if (Float.floatToRawIntBits(v) != Float.floatToRawIntBits(GUARD)) {
                    fail(what + ": wrote outside its range at element " + (i - offset) + " relative to the offset: " + v);
                }
            }
        }
    }

    static float[] random(SplittableRandom rnd, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        return v;
    }

    /** |actual − expected| ≤ abs + rel·|expected| for every element, else a message with both numbers and where. */
    static void assertClose(String what, double[] expected, float[] actual, double abs, double rel) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            if (Double.isNaN(e) && Double.isNaN(a)) continue;
            if (e == a) continue;  // equal infinities
            double tol = abs + rel * Math.abs(e);
            if (!(Math.abs(a - e) <= tol)) {
                fail(what + ": element " + i + " is " + a + ", expected " + e + " (difference " + Math.abs(a - e)
                        + " > tolerance " + tol + ")");
            }
        }
    }

    /** Element-wise tolerance: |actual − expected| ≤ tol[i]. */
    static void assertWithin(String what, double[] expected, float[] actual, double[] tol) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            if (Double.isNaN(e) && Double.isNaN(a)) continue;
            if (e == a) continue;
            if (!(Math.abs(a - e) <= tol[i])) {
                fail(what + ": element " + i + " is " + a + ", expected " + e + " (difference " + Math.abs(a - e)
                        + " > tolerance " + tol[i] + ")");
            }
        }
    }

    static void assertBitwiseEqual(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                fail(what + ": element " + i + " is " + actual[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(actual[i]))
                        + "), expected bitwise " + expected[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(expected[i])) + ")");
            }
        }
    }

    /** Runs {@code body} with the shared pool at 1 and at 3 threads and checks both runs give the same bits. */
    static void assertSameBitsForAnyThreadCount(String what, Supplier<float[]> body) {
        try {
            ThreadPool.setSharedThreads(1);
            float[] one = body.get();
            ThreadPool.setSharedThreads(3);
            float[] three = body.get();
            assertBitwiseEqual(what + " (1 vs 3 threads)", one, three);
        } finally {
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
    }

    static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    /** ULP of a float value, in double. */
    static double ulp(double v) {
        return Math.ulp((float) v);
    }
}
