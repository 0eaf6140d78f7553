package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.AttentionTestSupport.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The fused causal GQA attention forward, on every implementation, against a naive double reference. */
class AttentionForwardTest {
    /** Tolerance for out and lse, relative to max(1, |reference|): float rounding over ≤ 1024 keys and D ≤ 64. */
    static final double FORWARD_TOLERANCE = 1e-5;

    static List<Kernels> implementations() {
        return Kernels.allImplementations();
    }

    /**
     * Awkward T (1, 7, 33, 100: around the 32-query and 64-key blocks), GQA ratios H=G, 2G, 3G, 4G and G=1,
     * D in {1, 7, 8, 16, 33, 64} (below, at and above a vector at every width), batch 2, padded kvBatchStride.
     */
    static final List<Shape> TRAINING_SHAPES = List.of(
            Shape.of(2, 1, 0, 1, 2, 2, 1, 0),
            Shape.of(2, 7, 0, 7, 4, 2, 7, 5),
            Shape.of(2, 33, 0, 33, 4, 1, 8, 3),
            Shape.of(2, 100, 0, 100, 4, 2, 16, 7),
            Shape.of(2, 33, 0, 40, 2, 2, 33, 1),
            Shape.of(2, 100, 0, 100, 1, 1, 64, 0),
            Shape.of(2, 7, 0, 7, 3, 1, 33, 2),
            Shape.of(2, 65, 0, 65, 8, 2, 64, 9),
            Shape.of(1, 130, 0, 130, 2, 1, 7, 0));

    /** KV-cache shapes: Tq queries starting at qStart, in a cache of larger capacity. */
    static final List<Shape> CACHE_SHAPES = List.of(
            Shape.of(2, 1, 70, 80, 8, 2, 64, 3),
            Shape.of(2, 1, 6, 7, 4, 4, 16, 0),
            Shape.of(1, 7, 5, 20, 4, 2, 16, 0),
            Shape.of(2, 33, 40, 90, 4, 1, 7, 11),
            Shape.of(2, 1, 129, 140, 2, 1, 8, 0),
            Shape.of(1, 3, 200, 210, 3, 3, 1, 0));

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matchesDoubleReferenceOnAwkwardShapes(Kernels kernels) {
        long seed = 1;
        for (Shape s : TRAINING_SHAPES) checkAgainstReference(kernels, s, seed++);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void matchesDoubleReferenceWithQueriesAfterCachedKeys(Kernels kernels) {
        long seed = 100;
        for (Shape s : CACHE_SHAPES) checkAgainstReference(kernels, s, seed++);
    }

    private static void checkAgainstReference(Kernels kernels, Shape s, long seed) {
        Problem p = new Problem(s, seed);
        ForwardResult result = runForward(kernels.attention(), p, true);
        Reference ref = referenceForward(s, toDouble(p.q), toDouble(p.k), toDouble(p.v));
        String context = kernels + " " + s;
        assertClose("out", ref.out(), result.out(), FORWARD_TOLERANCE, context);
        assertClose("lse", ref.lse(), result.lse(), FORWARD_TOLERANCE, context);
    }

    /** Decoding one token against a cache of n keys gives the last row of the full forward over n+1 tokens. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void decodeStepEqualsLastRowOfFullForward(Kernels kernels) {
        for (int n : new int[] {0, 5, 64, 100}) {
            Shape full = Shape.of(2, n + 1, 0, n + 1, 4, 2, 16, 0);
            Problem p = new Problem(full, 40 + n);
            ForwardResult whole = runForward(kernels.attention(), p, true);
            // The same k/v memory read as a cache: one query at position n.
            Shape step = new Shape(2, 1, n, n + 1, 4, 2, 16, full.kvBatchStride());
            Problem decode = new Problem(step, 0);
            System.arraycopy(p.k, 0, decode.k, 0, p.k.length);
            System.arraycopy(p.v, 0, decode.v, 0, p.v.length);
            for (int b = 0; b < 2; b++) {
                for (int h = 0; h < 4; h++) {
                    for (int d = 0; d < 16; d++) decode.q[step.qIndex(b, 0, h, d)] = p.q[full.qIndex(b, n, h, d)];
                }
            }
            ForwardResult one = runForward(kernels.attention(), decode, true);
            double[] lastOut = new double[step.queryElements()];
            double[] lastLse = new double[2 * 4];
            for (int b = 0; b < 2; b++) {
                for (int h = 0; h < 4; h++) {
                    lastLse[step.lseIndex(b, h, 0)] = whole.lse()[full.lseIndex(b, h, n)];
                    for (int d = 0; d < 16; d++) lastOut[step.qIndex(b, 0, h, d)] = whole.out()[full.qIndex(b, n, h, d)];
                }
            }
            String context = kernels + " decode at n=" + n;
            assertClose("out", lastOut, one.out(), 1e-6, context);
            assertClose("lse", lastLse, one.lse(), 1e-6, context);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void lseIsOptional(Kernels kernels) {
        Problem p = new Problem(Shape.of(2, 33, 0, 33, 4, 2, 8, 0), 7);
        ForwardResult with = runForward(kernels.attention(), p, true);
        ForwardResult without = runForward(kernels.attention(), p, false);
        assertBitwiseEqual("out", with.out(), without.out(), kernels + " with vs without lse");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void bitwiseIdenticalForAnyThreadCount(Kernels kernels) {
        // Large enough to be split into several tasks (12 units of ~2^18 multiply-adds), and a decode step of 3.
        Problem p = new Problem(Shape.of(2, 70, 0, 70, 4, 2, 32, 0), 11);
        Problem decode = new Problem(Shape.of(3, 1, 700, 701, 8, 1, 32, 0), 12);
        try {
            ThreadPool.setSharedThreads(1);
            ForwardResult one = runForward(kernels.attention(), p, true);
            ForwardResult oneDecode = runForward(kernels.attention(), decode, true);
            ThreadPool.setSharedThreads(3);
            ForwardResult three = runForward(kernels.attention(), p, true);
            ForwardResult threeDecode = runForward(kernels.attention(), decode, true);
            assertBitwiseEqual("out", one.out(), three.out(), kernels + " 1 vs 3 threads");
            assertBitwiseEqual("lse", one.lse(), three.lse(), kernels + " 1 vs 3 threads");
            assertBitwiseEqual("decode out", oneDecode.out(), threeDecode.out(), kernels + " 1 vs 3 threads");
        } finally {
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
    }

    /** T = 1024, D = 64, one head: a [T×T] score matrix is never needed (and would be 4 MiB per head). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void longSequenceMatchesReference(Kernels kernels) {
        Shape s = Shape.of(1, 1024, 0, 1024, 1, 1, 64, 0);
        Problem p = new Problem(s, 5);
        ForwardResult result = runForward(kernels.attention(), p, true);
        Reference ref = LongReference.get(s, p);
        assertClose("out", ref.out(), result.out(), FORWARD_TOLERANCE, kernels + " " + s);
        assertClose("lse", ref.lse(), result.lse(), FORWARD_TOLERANCE, kernels + " " + s);
    }

    /** The long reference costs ~0.2 s; compute it once for all implementations. */
    private static final class LongReference {
        private static Reference cached;

        static synchronized Reference get(Shape s, Problem p) {
            if (cached == null) cached = referenceForward(s, toDouble(p.q), toDouble(p.k), toDouble(p.v));
            return cached;
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void rejectsBadShapesWithClearMessages(Kernels kernels) {
        Attention attention = kernels.attention();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = arena.allocate(16 * Float.BYTES);
            MemorySegment big = arena.allocate(4096 * Float.BYTES);
            IllegalArgumentException notMultiple = assertThrows(IllegalArgumentException.class, () ->
                    attention.forward(1, 2, 0, 3, 2, 4, 0.5f, big, 0, big, 0, big, 0, 0, big, 0, big, 0));
            assertTrue(notMultiple.getMessage().contains("heads (3)"), notMultiple.getMessage());
            IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class, () ->
                    attention.forward(1, 4, 0, 2, 1, 8, 0.5f, small, 0, big, 0, big, 0, 0, big, 0, big, 0));
            assertTrue(tooSmall.getMessage().startsWith("q segment"), tooSmall.getMessage());
            IllegalArgumentException stride = assertThrows(IllegalArgumentException.class, () ->
                    attention.forward(2, 4, 0, 2, 1, 8, 0.5f, big, 0, big, 0, big, 0, 31, big, 0, big, 0));
            assertTrue(stride.getMessage().contains("kvBatchStride 31"), stride.getMessage());
            IllegalArgumentException cacheTooSmall = assertThrows(IllegalArgumentException.class, () ->
                    attention.forward(1, 1, 40, 2, 1, 8, 0.5f, big, 0, small, 0, big, 0, 0, big, 0, big, 0));
            assertTrue(cacheTooSmall.getMessage().startsWith("k segment"), cacheTooSmall.getMessage());
            assertEquals(0, big.get(AttentionTestSupport.F32, 0), "nothing written before the checks");
        }
    }
}
