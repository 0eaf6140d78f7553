package dev.retort.distill.loss;

import static dev.retort.distill.loss.KdReference.assertClose;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The KD loss differentiated with respect to the teacher ({@link TeacherSideKd}) against central finite
 * differences of {@link KdReference}'s double-precision loss in the teacher's logits, hidden states and head.
 */
class TeacherSideKdTest {
    private static final int IGNORE = CrossEntropy.IGNORE_INDEX;
    private static final int N = 7, C = 5, CT = 6, V = 11;
    private static final int[] TARGETS = {3, IGNORE, 10, 0, 4, 4, 9};

    private final SplittableRandom random = new SplittableRandom(77);

    /** Loss and dLoss/dTeacherLogits of {@link TeacherSideKd#fromLogits}. */
    private static double[][] fromLogits(double[] z, double[] y, KdConfig config) {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var teacher = g.leaf(Tensor.of(arena, KdReference.toFloat(y), N, V));
            Var loss = TeacherSideKd.fromLogits(Tensor.of(arena, KdReference.toFloat(z), N, V), teacher, TARGETS, config, 0);
            loss.backward();
            return new double[][] {{loss.item()}, KdReference.toDouble(teacher.grad().toFloatArray())};
        }
    }

    @ParameterizedTest(name = "topK={0}")
    @ValueSource(ints = {0, 4})
    void teacherLogitGradientOfEveryDivergenceMatchesFiniteDifferences(int k) {
        double[] z = KdReference.random(random, N * V, 3);
        double[] y = KdReference.random(random, N * V, 3);
        for (Divergence d : Divergence.values()) {
            KdConfig config = new KdConfig(d, 1.7, 0.6, DivergenceTest.betaFor(d), k);
            double[][] out = fromLogits(z, y, config);
            assertClose(d + " loss", KdReference.loss(z, y, TARGETS, V, config, 0), out[0][0], 2e-6);
            double[] expected = KdReference.numericGradient(x -> KdReference.loss(z, x, TARGETS, V, config, 0), y);
            assertClose(d + " top-" + k + " dLoss/dTeacherLogits", expected, out[1], 1e-4);
        }
    }

    @ParameterizedTest(name = "topK={0}")
    @ValueSource(ints = {0, 5})
    void fusedLinearTeacherHiddenAndHeadGradientsMatchFiniteDifferences(int k) {
        double[] h = KdReference.random(random, N * C, 1), w = KdReference.random(random, V * C, 1.5);
        double[] th = KdReference.random(random, N * CT, 1), tw = KdReference.random(random, V * CT, 1.5);
        KdConfig config = new KdConfig(Divergence.RKL, 2, 0.4, 0, k);
        double divisor = 9;   // as when the batch is one of several accumulated micro-batches
        double[] z = KdReference.logits(h, w, N, C, V);
        java.util.function.BiFunction<double[], double[], Double> reference =
                (hidden, head) -> KdReference.loss(z, KdReference.logits(hidden, head, N, CT, V), TARGETS, V, config, divisor);
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var teacherHidden = g.leaf(Tensor.of(arena, KdReference.toFloat(th), N, CT));
            Var teacherHead = g.leaf(Tensor.of(arena, KdReference.toFloat(tw), V, CT));
            Var loss = TeacherSideKd.linear(Tensor.of(arena, KdReference.toFloat(h), N, C), Tensor.of(arena, KdReference.toFloat(w), V, C),
                    teacherHidden, teacherHead, TARGETS, config, divisor, 3);
            loss.backward();
            assertClose("loss", reference.apply(th, tw), loss.item(), 2e-6);
            assertClose("dLoss/dTeacherHidden", KdReference.numericGradient(x -> reference.apply(x, tw), th),
                    KdReference.toDouble(teacherHidden.grad().toFloatArray()), 1e-4);
            assertClose("dLoss/dTeacherHead", KdReference.numericGradient(x -> reference.apply(th, x), tw),
                    KdReference.toDouble(teacherHead.grad().toFloatArray()), 1e-4);
        }
    }
}
