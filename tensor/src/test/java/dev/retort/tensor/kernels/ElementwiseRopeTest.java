package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.assertClose;
import static dev.retort.tensor.kernels.ElementwiseTesting.random;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.kernels.Elementwise.RopeLayout;
import dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Rotary position embeddings in both layouts, forward and inverse, on every implementation. */
class ElementwiseRopeTest {

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    /** Tables as plain segments at element 0, as the kernel expects (cos/sin need not be unit here). */
    private static MemorySegment table(float[] values) {
        MemorySegment s = ElementwiseTesting.ARENA.allocate((long) values.length * 4, 64);
        MemorySegment.copy(values, 0, s, ElementwiseTesting.F32, 0, values.length);
        return s;
    }

    /**
     * The reference in double: x is [tokens × tokenStride] (heads × headDim used per token); pair i of a head is
     * (i, i + d/2) for HALF and (2i, 2i + 1) for INTERLEAVED; rotation by +θ, or −θ when inverse.
     */
    static double[] ropeRef(RopeLayout layout, float[] x, int tokens, int heads, int headDim, int tokenStride,
                            int[] positions, float[] cos, float[] sin, boolean inverse) {
        double[] out = ElementwiseTesting.toDouble(x);
        int half = headDim / 2;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int head = t * tokenStride + h * headDim;
                for (int i = 0; i < half; i++) {
                    double c = cos[positions[t] * half + i], s = sin[positions[t] * half + i] * (inverse ? -1 : 1);
                    int i0 = layout == RopeLayout.HALF ? head + i : head + 2 * i;
                    int i1 = layout == RopeLayout.HALF ? head + i + half : head + 2 * i + 1;
                    double x0 = x[i0], x1 = x[i1];
                    out[i0] = x0 * c - x1 * s;
                    out[i1] = x0 * s + x1 * c;
                }
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void ropeMatchesDoubleReferenceInBothLayoutsAndDirections(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(31);
        int maxPos = 50;
        for (int headDim : new int[] {2, 4, 6, 8, 14, 16, 18, 32, 34, 64, 66, 128}) {
            int half = headDim / 2;
            float[] cos = random(rnd, maxPos * half, -1, 1), sin = random(rnd, maxPos * half, -1, 1);
            MemorySegment cosSeg = table(cos), sinSeg = table(sin);
            for (int heads : new int[] {1, 3}) {
                int tokens = 5, padding = 3, tokenStride = heads * headDim + padding;  // rows with a gap
                int[] positions = new int[tokens];
                for (int t = 0; t < tokens; t++) positions[t] = rnd.nextInt(maxPos);
                positions[tokens - 1] = maxPos - 1;  // the last table row: no read past it
                for (RopeLayout layout : RopeLayout.values()) {
                    for (boolean inverse : new boolean[] {false, true}) {
                        float[] x = random(rnd, tokens * tokenStride, -2, 2);
                        Buf xb = Buf.of(x);
                        k.elementwise().rope(layout, tokens, heads, headDim, tokenStride, xb.segment(), xb.offset(),
                                positions, cosSeg, sinSeg, inverse);
                        String what = k + " rope " + layout + (inverse ? " inverse" : "") + " headDim=" + headDim
                                + " heads=" + heads;
                        // Each output is x0·c ∓ x1·s: a few ulps of |x0| + |x1| ≤ 4.
                        assertClose(what, ropeRef(layout, x, tokens, heads, headDim, tokenStride, positions, cos, sin,
                                inverse), xb.read(), 4e-6, 0);
                        xb.assertGuardsIntact(what);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void inverseRopeIsTheBackwardPass(Kernels k) {
        // For y = R(θ)·x, d(Σ dy ⊙ y)/dx = R(θ)ᵀ·dy, and R(θ)ᵀ is R with sin negated: the inverse rotation. Check the
        // kernel's inverse of dy against central differences of the double reference forward.
        SplittableRandom rnd = new SplittableRandom(32);
        int tokens = 3, heads = 2, headDim = 10, tokenStride = heads * headDim, maxPos = 7, half = headDim / 2;
        float[] cos = random(rnd, maxPos * half, -1, 1), sin = random(rnd, maxPos * half, -1, 1);
        int[] positions = {6, 0, 3};
        for (RopeLayout layout : RopeLayout.values()) {
            float[] x = random(rnd, tokens * tokenStride, -2, 2), dy = random(rnd, tokens * tokenStride, -1, 1);
            double[] dyd = ElementwiseTesting.toDouble(dy);
            double[] numeric = new double[x.length];
            double h = 1e-3;  // the forward is linear in x, so the difference quotient is exact up to rounding
            for (int i = 0; i < x.length; i++) {
                float saved = x[i];
                x[i] = saved + (float) h;
                double plus = ElementwiseSoftmaxTest.dotProduct(
                        ropeRef(layout, x, tokens, heads, headDim, tokenStride, positions, cos, sin, false), dyd);
                double step = x[i] - saved;
                x[i] = saved;
                double base = ElementwiseSoftmaxTest.dotProduct(
                        ropeRef(layout, x, tokens, heads, headDim, tokenStride, positions, cos, sin, false), dyd);
                numeric[i] = (plus - base) / step;
            }
            Buf g = Buf.of(dy);
            k.elementwise().rope(layout, tokens, heads, headDim, tokenStride, g.segment(), g.offset(), positions,
                    table(cos), table(sin), true);
            assertClose(k + " " + layout + " inverse rope vs finite differences", numeric, g.read(), 1e-5, 1e-5);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void ropeRowsSplitAcrossTasksAreIdenticalForAnyThreadCount(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(33);
        int tokens = 64, heads = 8, headDim = 64, tokenStride = heads * headDim, maxPos = 128, half = headDim / 2;
        float[] cos = random(rnd, maxPos * half, -1, 1), sin = random(rnd, maxPos * half, -1, 1);
        MemorySegment cosSeg = table(cos), sinSeg = table(sin);
        int[] positions = new int[tokens];
        for (int t = 0; t < tokens; t++) positions[t] = t + 10;
        float[] x = random(rnd, tokens * tokenStride, -2, 2);
        for (RopeLayout layout : RopeLayout.values()) {
            ElementwiseTesting.assertSameBitsForAnyThreadCount(k + " rope " + layout, () -> {
                Buf xb = Buf.of(x);
                k.elementwise().rope(layout, tokens, heads, headDim, tokenStride, xb.segment(), xb.offset(),
                        positions, cosSeg, sinSeg, false);
                return xb.read();
            });
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void ropeRejectsPositionsOutsideTheTablesAndOddHeadDim(Kernels k) {
        MemorySegment cos = table(new float[4 * 3]), sin = table(new float[4 * 3]);  // maxPos 4, headDim 6
        Buf x = Buf.zeros(2 * 6);
        IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> k.elementwise().rope(
                RopeLayout.HALF, 2, 1, 6, 6, x.segment(), x.offset(), new int[] {1, 4}, cos, sin, false));
        assertTrue(e.getMessage().contains("position 4"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> k.elementwise().rope(
                RopeLayout.HALF, 2, 1, 5, 6, x.segment(), x.offset(), new int[] {1, 2}, cos, sin, false));
        MemorySegment exact = table(new float[2 * 6]);  // room for 2 tokens, asked to rotate 3
        IllegalArgumentException tooMany = assertThrows(IllegalArgumentException.class, () -> k.elementwise().rope(
                RopeLayout.INTERLEAVED, 3, 1, 6, 6, exact, 0, new int[] {1, 2, 3}, cos, sin, false));
        assertTrue(tooMany.getMessage().contains("18"), tooMany.getMessage());
    }
}
