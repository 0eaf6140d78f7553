package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** NumPy broadcasting of add/mul over tensors and its backward, sumToShape, on every implementation. */
class BroadcastTest {
    private static final Arena ARENA = Arena.ofAuto();
    private static final List<Kernels> ALL = Kernels.allImplementations();

    static List<Kernels> implementations() {
        return ALL;
    }

    /** Shape pairs: trailing vector, middle size-1 axes, both sides stretched, rank 0, equal shapes. */
    private static final int[][][] PAIRS = {
            {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{2, 1, 4}, {1, 3, 1}}, {{5}, {1}}, {{}, {3}}, {{1}, {1}},
            {{3, 1}, {1, 7}}, {{7, 33}, {7, 33}}, {{2, 3, 4}, {2, 1, 1}}, {{1, 17}, {5, 17}}, {{4}, {2, 3, 4}},
    };

    private static Tensor random(SplittableRandom rnd, int[] shape, boolean integers) {
        Tensor t = Tensor.zeros(ARENA, DType.F32, shape);
        for (long i = 0; i < t.size(); i++) {
            t.setFlat(i, integers ? rnd.nextInt(-50, 51) : (float) rnd.nextDouble(-2, 2));
        }
        return t;
    }

    /** The element of {@code t} that broadcasting pairs with output index {@code index} (aligned at the right). */
    private static float broadcastGet(Tensor t, int[] index) {
        int[] own = new int[t.rank()];
        for (int a = 0; a < own.length; a++) {
            int outAxis = index.length - own.length + a;
            own[a] = t.dim(a) == 1 ? 0 : index[outAxis];
        }
        return t.get(own);
    }

    private static int[] unflatten(long flat, int[] shape) {
        int[] index = new int[shape.length];
        for (int a = shape.length - 1; a >= 0; a--) {
            index[a] = (int) (flat % shape[a]);
            flat /= shape[a];
        }
        return index;
    }

    private static void checkBinary(Kernels k, Tensor a, Tensor b, String what) {
        int[] shape = Broadcast.broadcastShape(a.shape(), b.shape());
        Tensor sum = Tensor.zeros(ARENA, DType.F32, shape), product = Tensor.zeros(ARENA, DType.F32, shape);
        Broadcast.add(k, a, b, sum);
        Broadcast.mul(k, a, b, product);
        for (long i = 0; i < sum.size(); i++) {
            int[] index = unflatten(i, shape);
            float x = broadcastGet(a, index), y = broadcastGet(b, index);
            // Single IEEE operations: the kernels must give exactly the float sum and product.
            if (Float.floatToRawIntBits(sum.getFlat(i)) != Float.floatToRawIntBits(x + y)
                    || Float.floatToRawIntBits(product.getFlat(i)) != Float.floatToRawIntBits(x * y)) {
                fail(k + " " + what + " at " + Arrays.toString(index) + ": add " + sum.getFlat(i) + " (expected " + (x + y)
                        + "), mul " + product.getFlat(i) + " (expected " + (x * y) + ")");
            }
        }
    }

    @Test
    void broadcastShapeFollowsNumPyRulesAndNamesIncompatibleShapes() {
        assertArrayEquals(new int[] {2, 3}, Broadcast.broadcastShape(new int[] {2, 3}, new int[] {3}));
        assertArrayEquals(new int[] {4, 5, 3}, Broadcast.broadcastShape(new int[] {4, 1, 3}, new int[] {5, 1}));
        assertArrayEquals(new int[] {2}, Broadcast.broadcastShape(new int[] {}, new int[] {2}));
        assertArrayEquals(new int[] {0, 3}, Broadcast.broadcastShape(new int[] {0, 1}, new int[] {1, 3}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Broadcast.broadcastShape(new int[] {2, 3}, new int[] {4}));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4]"), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void addAndMulMatchElementByElementReference(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(61);
        for (int[][] pair : PAIRS) {
            Tensor a = random(rnd, pair[0], false), b = random(rnd, pair[1], false);
            checkBinary(k, a, b, Arrays.toString(pair[0]) + " with " + Arrays.toString(pair[1]));
            checkBinary(k, b, a, Arrays.toString(pair[1]) + " with " + Arrays.toString(pair[0]));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void nonContiguousViewsAndInPlaceUseWork(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(62);
        Tensor base = random(rnd, new int[] {4, 3}, false);
        Tensor transposed = base.transpose(0, 1);                      // [3, 4], strides [1, 3]
        Tensor row = random(rnd, new int[] {4}, false);
        checkBinary(k, transposed, row, "transposed [3, 4] with [4]");
        Tensor wide = random(rnd, new int[] {5, 9}, false);
        Tensor sliced = wide.slice(1, 2, 7);                           // [5, 5] with row stride 9
        checkBinary(k, sliced, random(rnd, new int[] {5, 1}, false), "sliced [5, 5] with [5, 1]");
        checkBinary(k, sliced, transposed.slice(1, 0, 1).slice(0, 0, 1), "sliced with a [1, 1] view");

        // In place: a += b with a of the broadcast shape.
        Tensor a = random(rnd, new int[] {6, 10}, false), b = random(rnd, new int[] {10}, false);
        float[] before = a.toFloatArray();
        Broadcast.add(k, a, b, a);
        for (int i = 0; i < before.length; i++) {
            float expected = before[i] + b.getFlat(i % 10);
            if (a.getFlat(i) != expected) fail(k + " in-place add at " + i + ": " + a.getFlat(i) + " vs " + expected);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void largeBroadcastsAreIdenticalForAnyThreadCount(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(63);
        Tensor a = random(rnd, new int[] {96, 1000}, false), b = random(rnd, new int[] {1000}, false);
        float[][] results = new float[2][];
        try {
            for (int run = 0; run < 2; run++) {
                ThreadPool.setSharedThreads(run == 0 ? 1 : 3);
                Tensor out = Tensor.zeros(ARENA, DType.F32, 96, 1000);
                Broadcast.mul(k, a, b, out);
                results[run] = out.toFloatArray();
            }
        } finally {
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
        for (int i = 0; i < results[0].length; i++) {
            if (Float.floatToRawIntBits(results[0][i]) != Float.floatToRawIntBits(results[1][i])) {
                fail(k + " element " + i + ": " + results[0][i] + " with 1 thread, " + results[1][i] + " with 3");
            }
        }
        checkBinary(k, a, b, "[96, 1000] with [1000]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void badShapesAreRejected(Kernels k) {
        Tensor a = Tensor.zeros(ARENA, DType.F32, 2, 3), b = Tensor.zeros(ARENA, DType.F32, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Broadcast.add(k, a, b, Tensor.zeros(ARENA, DType.F32, 3, 2)));
        assertTrue(e.getMessage().contains("[3, 2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Broadcast.mul(k, a, Tensor.zeros(ARENA, DType.BF16, 3), Tensor.zeros(ARENA, DType.F32, 2, 3)));
        assertThrows(IllegalArgumentException.class,
                () -> Broadcast.sumToShape(k, a, Tensor.zeros(ARENA, DType.F32, 2)));
        assertThrows(IllegalArgumentException.class,
                () -> Broadcast.sumToShape(k, a, Tensor.zeros(ARENA, DType.F32, 1, 2, 3)));
    }

    // ---- sumToShape -----------------------------------------------------------------------------------

    /** The reference: every gradient element added, in double, into the out element broadcasting pairs it with. */
    private static double[] sumToShapeRef(Tensor grad, int[] outShape) {
        Tensor shapeOnly = Tensor.zeros(ARENA, DType.F32, outShape);
        double[] out = new double[(int) shapeOnly.size()];
        int[] gradShape = grad.shape();
        for (long i = 0; i < grad.size(); i++) {
            int[] index = unflatten(i, gradShape);
            long flat = 0;
            for (int a = 0; a < outShape.length; a++) {
                int gradAxis = gradShape.length - outShape.length + a;
                flat = flat * outShape[a] + (outShape[a] == 1 ? 0 : index[gradAxis]);
            }
            out[(int) flat] += grad.getFlat(i);
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void sumToShapeReducesBroadcastAxes(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(64);
        int[] gradShape = {2, 3, 4};
        int[][] targets = {{4}, {3, 1}, {2, 1, 4}, {1}, {}, {2, 3, 4}, {1, 3, 1}, {2, 1, 1}, {1, 1, 4}};
        for (boolean integers : new boolean[] {true, false}) {
            Tensor grad = random(rnd, gradShape, integers);
            for (int[] target : targets) {
                Tensor out = Tensor.zeros(ARENA, DType.F32, target).fill(123f);  // overwritten, not accumulated
                Broadcast.sumToShape(k, grad, out);
                double[] expected = sumToShapeRef(grad, target);
                for (int i = 0; i < expected.length; i++) {
                    // Integer gradients sum exactly in any order; random ones to a few ulps of ≤ 24 terms.
                    double tol = integers ? 0 : 1e-6 * 24 * 2;
                    if (!(Math.abs(out.getFlat(i) - expected[i]) <= tol)) {
                        fail(k + " sumToShape " + Arrays.toString(gradShape) + " → " + Arrays.toString(target)
                                + " element " + i + ": " + out.getFlat(i) + ", expected " + expected[i]);
                    }
                }
            }
        }
        // A transposed (non-contiguous) gradient.
        Tensor g = random(rnd, new int[] {5, 3}, true).transpose(0, 1);  // [3, 5]
        for (int[] target : new int[][] {{5}, {3, 1}}) {
            Tensor out = Tensor.zeros(ARENA, DType.F32, target);
            Broadcast.sumToShape(k, g, out);
            double[] expected = sumToShapeRef(g, target);
            for (int i = 0; i < expected.length; i++) {
                if (out.getFlat(i) != expected[i]) {
                    fail(k + " transposed sumToShape → " + Arrays.toString(target) + " element " + i + ": "
                            + out.getFlat(i) + ", expected " + expected[i]);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void sumToShapeIsIdenticalForAnyThreadCount(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(65);
        Tensor grad = random(rnd, new int[] {300, 200}, false);
        for (int[] target : new int[][] {{200}, {300, 1}, {1, 1}}) {
            float[][] results = new float[2][];
            try {
                for (int run = 0; run < 2; run++) {
                    ThreadPool.setSharedThreads(run == 0 ? 1 : 3);
                    Tensor out = Tensor.zeros(ARENA, DType.F32, target);
                    Broadcast.sumToShape(k, grad, out);
                    results[run] = out.toFloatArray();
                }
            } finally {
                ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
            }
            for (int i = 0; i < results[0].length; i++) {
                if (Float.floatToRawIntBits(results[0][i]) != Float.floatToRawIntBits(results[1][i])) {
                    fail(k + " sumToShape → " + Arrays.toString(target) + " element " + i + " differs between 1 and 3 threads");
                }
            }
            double[] expected = sumToShapeRef(grad, target);
            for (int i = 0; i < expected.length; i++) {
                // ≤ 60000 terms of magnitude ≤ 2 summed in float: a loose bound 2^-24·n·max|g|.
                double tol = 0x1p-24 * (grad.size() / expected.length) * 2 * 2;
                if (!(Math.abs(results[0][i] - expected[i]) <= tol)) {
                    fail(k + " sumToShape → " + Arrays.toString(target) + " element " + i + ": " + results[0][i]
                            + ", expected " + expected[i]);
                }
            }
        }
    }
}
