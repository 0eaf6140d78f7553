package dev.retort.distill.loss;

import static dev.retort.distill.loss.KdReference.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The whole objective — the fused linear form, truncation, the α mix, masks, chunking, gradient accumulation,
 * top-1 agreement and the teacher sources — against {@link KdReference} in double precision.
 */
class DistillationLossTest {
    private static final int IGNORE = CrossEntropy.IGNORE_INDEX;
    // rows N, student width C, teacher width Ct, vocabulary V: small and odd on purpose
    private static final int N = 9, C = 5, CT = 6, V = 13;
    private static final int[] TARGETS = {1, 12, 0, IGNORE, 5, 5, 7, IGNORE, 11};

    private final SplittableRandom random = new SplittableRandom(2024);
    private final double[] h = KdReference.random(random, N * C, 1);
    private final double[] w = KdReference.random(random, V * C, 1.5);
    private final double[] th = KdReference.random(random, N * CT, 1);
    private final double[] tw = KdReference.random(random, V * CT, 1.5);

    private double reference(double[] hidden, double[] head, KdConfig config, double divisor) {
        double[] z = KdReference.logits(hidden, head, N, C, V);
        double[] y = KdReference.logits(th, tw, N, CT, V);
        return KdReference.loss(z, y, TARGETS, V, config, divisor);
    }

    @ParameterizedTest(name = "topK={0}")
    @ValueSource(ints = {0, 5})
    void fusedLinearLossAndItsHiddenAndHeadGradientsMatchTheReference(int k) {
        KdConfig config = new KdConfig(Divergence.JSD, 2, 0.4, 0.3, k);
        Runs.Outcome out = Runs.linear(h, w, N, C, V, th, tw, CT, 0, TARGETS, config, 0, 4);
        assertClose("loss", reference(h, w, config, 0), out.loss(), 2e-6);
        assertClose("dLoss/dHidden", KdReference.numericGradient(x -> reference(x, w, config, 0), h), out.gradA(), 1e-4);
        assertClose("dLoss/dHead", KdReference.numericGradient(x -> reference(h, x, config, 0), w), out.gradB(), 1e-4);
        assertEquals(7, out.counted(), "counted tokens");
    }

    // ---- top-k truncation -------------------------------------------------------------------------------

    /** A teacher cache built by hand in double: top-k ids in shuffled order, rest log-sum-exp at T. */
    static TeacherSource handBuiltCache(double[] y, int rows, int vocab, int k, double temperature, long shuffleSeed) {
        int[] ids = new int[rows * k];
        float[] logits = new float[rows * k];
        float[] rest = new float[rows];
        SplittableRandom shuffle = new SplittableRandom(shuffleSeed);
        for (int r = 0; r < rows; r++) {
            int[] top = KdReference.topIds(y, r * vocab, vocab, k);
            for (int i = k - 1; i > 0; i--) {   // order within a row must not matter
                int j = shuffle.nextInt(i + 1), t = top[i];
                top[i] = top[j];
                top[j] = t;
            }
            boolean[] inTop = new boolean[vocab];
            for (int i = 0; i < k; i++) {
                ids[r * k + i] = top[i];
                logits[r * k + i] = (float) y[r * vocab + top[i]];
                inTop[top[i]] = true;
            }
            double sum = 0;
            for (int j = 0; j < vocab; j++) if (!inTop[j]) sum += Math.exp(y[r * vocab + j] / temperature);
            rest[r] = (float) Math.log(sum);
        }
        return new TeacherSource() {
            @Override public int rows() { return rows; }
            @Override public int vocab() { return vocab; }
            @Override public int topK() { return k; }

            @Override
            public TopKBlock topKBlock(int row, int n, double t) {
                if (t != temperature) throw new IllegalArgumentException("cache made at T = " + temperature + ", asked for " + t);
                return new TopKBlock(n, k, temperature, Arrays.copyOfRange(ids, row * k, (row + n) * k),
                        Arrays.copyOfRange(logits, row * k, (row + n) * k), Arrays.copyOfRange(rest, row, row + n));
            }
        };
    }

    @Test
    void denseTeacherTruncatedToTopKEqualsAHandBuiltTopKBlock() {
        int rows = 6, vocab = 17, k = 4;
        int[] targets = {2, IGNORE, 16, 0, 9, 9};
        double[] z = KdReference.random(random, rows * vocab, 3);
        double[] y = KdReference.random(random, rows * vocab, 4);
        for (Divergence d : Divergence.values()) {
            KdConfig config = new KdConfig(d, 1.7, 0.8, DivergenceTest.betaFor(d), k);
            Runs.Outcome cache = Runs.fromLogits(z, y, rows, vocab, targets, config, 0, t -> handBuiltCache(y, rows, vocab, k, 1.7, d.ordinal()));
            Runs.Outcome truncatingSource = Runs.fromLogits(z, y, rows, vocab, targets, config, 0, k);
            Runs.Outcome truncatedByLoss = Runs.fromLogits(z, y, rows, vocab, targets, config, 0, 0);
            for (Runs.Outcome dense : new Runs.Outcome[] {truncatingSource, truncatedByLoss}) {
                assertClose(d + " loss, dense truncated vs cache", cache.loss(), dense.loss(), 1e-6);
                assertClose(d + " gradient, dense truncated vs cache", cache.gradA(), dense.gradA(), 1e-6);
            }
            assertClose(d + " top-" + k + " loss vs reference", KdReference.loss(z, y, targets, vocab, config, 0), cache.loss(), 2e-6);
        }
    }

    @Test
    void topKOfTheWholeVocabularyIsTheFullDivergence() {
        int rows = 3, vocab = 7;
        int[] targets = {1, 2, 3};
        double[] z = KdReference.random(random, rows * vocab, 3);
        double[] y = KdReference.random(random, rows * vocab, 3);
        KdConfig full = new KdConfig(Divergence.RKL, 1.3, 1, 0, 0);
        Runs.Outcome all = Runs.fromLogits(z, y, rows, vocab, targets, full.withTopK(vocab), 0, 0);
        Runs.Outcome dense = Runs.fromLogits(z, y, rows, vocab, targets, full, 0, 0);
        assertClose("loss with k = V vs dense", dense.loss(), all.loss(), 1e-6);
        assertClose("gradient with k = V vs dense", dense.gradA(), all.gradA(), 1e-6);
    }

    @Test
    void topKBlockFromDenseKeepsTheLargestLogitsAndTheRestLogSumExp() {
        float[] row = {0.5f, 2f, -1f, 2f, 3f, 0f};
        try (Arena arena = Arena.ofConfined()) {
            TopKBlock b = TopKBlock.fromDense(Tensor.of(arena, row, 1, 6), 3, 2.0);
            assertEquals("[4, 1, 3]", Arrays.toString(b.ids()), "ids by decreasing logit, ties to the lower id");
            assertEquals("[3.0, 2.0, 2.0]", Arrays.toString(b.logits()));
            double rest = Math.log(Math.exp(0.5 / 2) + Math.exp(-1.0 / 2) + Math.exp(0.0 / 2));
            assertClose("rest log-sum-exp at T = 2", rest, b.restLogSumExp(0), 1e-7);
            assertEquals(Double.NEGATIVE_INFINITY, TopKBlock.fromDense(Tensor.of(arena, row, 1, 6), 6, 1).restLogSumExp(0),
                    "k = V leaves an empty rest");
        }
    }

    // ---- the mix, masks, chunks and accumulation -------------------------------------------------------

    @Test
    void alphaMixesCrossEntropyWithTemperatureSquaredDivergence() {
        double t = 3;
        double[] z = KdReference.logits(h, w, N, C, V), y = KdReference.logits(th, tw, N, CT, V);
        double[] sums = KdReference.sums(z, y, TARGETS, V, new KdConfig(Divergence.FKL, t, 1, 0, 0));
        for (double alpha : new double[] {0, 0.3, 1}) {
            KdConfig config = new KdConfig(Divergence.FKL, t, alpha, 0, 0);
            Runs.Outcome out = Runs.linear(h, w, N, C, V, th, tw, CT, 0, TARGETS, config, 0, N);
            assertClose("Σ CE", sums[0], out.ceSum(), 1e-6);
            assertClose("Σ D at T = 3 (unweighted)", sums[1], out.kdSum(), 1e-6);
            assertClose("loss at alpha " + alpha, ((1 - alpha) * sums[0] + alpha * t * t * sums[1]) / 7, out.loss(), 2e-6);
        }
        // alpha 0 is exactly the cross-entropy op, gradient included
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var logits = g.leaf(Tensor.of(arena, KdReference.toFloat(z), N, V));
            Var ce = CrossEntropy.fromLogits(logits, TARGETS);
            ce.backward();
            Runs.Outcome kd = Runs.fromLogits(z, y, N, V, TARGETS, new KdConfig(Divergence.FKL, t, 0, 0, 0), 0, 0);
            assertClose("alpha 0 loss vs CrossEntropy", ce.item(), kd.loss(), 1e-6);
            assertClose("alpha 0 gradient vs CrossEntropy", KdReference.toDouble(logits.grad().toFloatArray()), kd.gradA(), 1e-6);
        }
    }

    @Test
    void maskedRowsContributeNeitherLossNorGradient() {
        KdConfig config = new KdConfig(Divergence.SRKL, 1.5, 0.6, 0.1, 0);
        double[] z = KdReference.random(random, N * V, 3), y = KdReference.random(random, N * V, 3);
        Runs.Outcome out = Runs.fromLogits(z, y, N, V, TARGETS, config, 0, 0);
        double[] z2 = z.clone(), y2 = y.clone();
        for (int r : new int[] {3, 7}) {   // the masked rows: change them wildly
            for (int j = 0; j < V; j++) {
                z2[r * V + j] = (float) (10 * Math.sin(j));
                y2[r * V + j] = (float) (-10 * Math.cos(j));
            }
        }
        Runs.Outcome changed = Runs.fromLogits(z2, y2, N, V, TARGETS, config, 0, 0);
        assertEquals(out.loss(), changed.loss(), "masked rows changed the loss");
        assertEquals(7, out.counted());
        for (int r : new int[] {3, 7}) {
            for (int j = 0; j < V; j++) assertEquals(0.0, out.gradA()[r * V + j], "gradient of masked row " + r + " at " + j);
        }
        assertClose("loss over the counted rows only", KdReference.loss(z, y, TARGETS, V, config, 0), out.loss(), 2e-6);
    }

    @ParameterizedTest(name = "topK={0}")
    @ValueSource(ints = {0, 4})
    void chunkSizeDoesNotChangeLossOrGradients(int k) {
        KdConfig config = new KdConfig(Divergence.TVD, 1.2, 0.7, 0, k);
        Runs.Outcome whole = Runs.linear(h, w, N, C, V, th, tw, CT, k, TARGETS, config, 0, N);
        for (int chunk : new int[] {1, 3}) {
            Runs.Outcome chunked = Runs.linear(h, w, N, C, V, th, tw, CT, k, TARGETS, config, 0, chunk);
            assertClose("loss, chunks of " + chunk + " vs " + N, whole.loss(), chunked.loss(), 1e-6);
            assertClose("dHidden, chunks of " + chunk, whole.gradA(), chunked.gradA(), 1e-6);
            assertClose("dHead, chunks of " + chunk, whole.gradB(), chunked.gradB(), 1e-6);
            assertEquals(whole.agree(), chunked.agree(), "top-1 agreement, chunks of " + chunk);
        }
    }

    @Test
    void twoHalfBatchesWithTheTotalDivisorAddUpToTheFullBatch() {
        KdConfig config = new KdConfig(Divergence.SKL, 2, 0.5, 0.1, 0);
        int half = 5, counted = 7;
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            Parameter head = new Parameter("lm_head.weight", Tensor.of(arena, KdReference.toFloat(w), V, C), true);
            Tensor teacherHidden = Tensor.of(arena, KdReference.toFloat(th), N, CT);
            Tensor teacherHead = Tensor.of(arena, KdReference.toFloat(tw), V, CT);
            Tensor studentHidden = Tensor.of(arena, KdReference.toFloat(h), N, C);

            double fullLoss;
            float[] fullHidden, fullHead;
            try (Graph g = Graph.withGrad(pool)) {
                Var hidden = g.leaf(studentHidden);
                var r = DistillationLoss.linear(hidden, head, DenseTeacher.of(teacherHidden, teacherHead, 0), TARGETS, config, 0, 4);
                r.loss().backward();
                fullLoss = r.loss().item();
                fullHidden = hidden.grad().toFloatArray();
                fullHead = head.grad().toFloatArray();
            }
            head.zeroGrad();
            double summed = 0;
            float[] parts = new float[N * C];
            for (int[] range : new int[][] {{0, half}, {half, N}}) {
                try (Graph g = Graph.withGrad(pool)) {
                    Var hidden = g.leaf(studentHidden.slice(0, range[0], range[1]));
                    TeacherSource teacher = DenseTeacher.of(teacherHidden.slice(0, range[0], range[1]), teacherHead, 0);
                    var r = DistillationLoss.linear(hidden, head, teacher, Arrays.copyOfRange(TARGETS, range[0], range[1]),
                            config, counted, 4);
                    r.loss().backward();
                    summed += r.loss().item();
                    System.arraycopy(hidden.grad().toFloatArray(), 0, parts, range[0] * C, (range[1] - range[0]) * C);
                }
            }
            assertClose("half-batch losses summed vs full batch", fullLoss, summed, 1e-6);
            assertClose("half-batch hidden gradients vs full batch", KdReference.toDouble(fullHidden), KdReference.toDouble(parts), 1e-6);
            assertClose("accumulated head gradient vs full batch", KdReference.toDouble(fullHead),
                    KdReference.toDouble(head.grad().toFloatArray()), 1e-6);
        }
    }

    @Test
    void resultsAreBitwiseIdenticalOnOneAndThreeThreads() {
        // a vocabulary large enough that a chunk's rows are spread over several tasks
        int rows = 8, c = 8, vocab = 4099;
        double[] sh = KdReference.random(random, rows * c, 1), sw = KdReference.random(random, vocab * c, 1);
        double[] teacherHidden = KdReference.random(random, rows * c, 1), teacherHead = KdReference.random(random, vocab * c, 1);
        int[] targets = {5, 4000, IGNORE, 17, 0, 4098, 3, 3};
        try {
            for (int k : new int[] {0, 16}) {
                KdConfig config = new KdConfig(Divergence.JSD, 2, 0.5, 0.5, k);
                ThreadPool.setSharedThreads(1);
                Runs.Outcome one = Runs.linear(sh, sw, rows, c, vocab, teacherHidden, teacherHead, c, 0, targets, config, 0, 8);
                ThreadPool.setSharedThreads(3);
                Runs.Outcome three = Runs.linear(sh, sw, rows, c, vocab, teacherHidden, teacherHead, c, 0, targets, config, 0, 8);
                assertEquals(one.loss(), three.loss(), "loss on 1 and 3 threads, topK " + k);
                assertEquals(one.kdSum(), three.kdSum(), "Σ D on 1 and 3 threads, topK " + k);
                assertArrayEquals(one.gradA(), three.gradA(), "dHidden on 1 and 3 threads, topK " + k);
                assertArrayEquals(one.gradB(), three.gradB(), "dHead on 1 and 3 threads, topK " + k);
            }
        } finally {
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
    }

    // ---- logging numbers ---------------------------------------------------------------------------------

    @Test
    void top1AgreementCountsCountedRowsWhoseArgmaxesMatch() {
        int rows = 5, vocab = 6;
        int[] targets = {0, 1, IGNORE, 2, 3};
        // student argmax per row: 2, 4, 1, 0, 5; teacher argmax: 2, 3, 1, 0, 1 (row 2 agrees but is masked)
        int[] studentTop = {2, 4, 1, 0, 5}, teacherTop = {2, 3, 1, 0, 1};
        double[] z = KdReference.random(random, rows * vocab, 1), y = KdReference.random(random, rows * vocab, 1);
        for (int r = 0; r < rows; r++) {
            z[r * vocab + studentTop[r]] = 4;
            y[r * vocab + teacherTop[r]] = 4;
        }
        int expected = 0;
        for (int r = 0; r < rows; r++) if (targets[r] != IGNORE && studentTop[r] == teacherTop[r]) expected++;
        for (int k : new int[] {0, 2}) {
            KdConfig config = new KdConfig(Divergence.FKL, 2, 0.5, 0, k);
            assertEquals(expected, Runs.fromLogits(z, y, rows, vocab, targets, config, 0, 0).agree(), "top-1 agreement, topK " + k);
            assertEquals(expected, Runs.fromLogits(z, y, rows, vocab, targets, config, 0, k).agree(), "top-1 agreement from blocks, topK " + k);
        }
    }

    @Test
    void noGradGraphGivesTheSameLossAndNoGradient() {
        KdConfig config = new KdConfig(Divergence.RKL, 1.5, 0.5, 0, 3);
        Runs.Outcome withGrad = Runs.linear(h, w, N, C, V, th, tw, CT, 0, TARGETS, config, 0, 4);
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.noGrad(pool)) {
            Var hidden = g.leaf(Tensor.of(arena, KdReference.toFloat(h), N, C));
            Var head = g.leaf(Tensor.of(arena, KdReference.toFloat(w), V, C));
            TeacherSource teacher = DenseTeacher.of(Tensor.of(arena, KdReference.toFloat(th), N, CT),
                    Tensor.of(arena, KdReference.toFloat(tw), V, CT), 0);
            var r = DistillationLoss.linear(hidden, head, teacher, TARGETS, config, 0, 4);
            assertEquals(withGrad.loss(), r.loss().item(), 1e-7, "loss without gradients");
            assertTrue(!r.loss().requiresGrad(), "a no-grad graph's loss needs no gradient");
            assertNull(hidden.grad());
        }
    }

    // ---- teacher sources ---------------------------------------------------------------------------------

    @Test
    void denseTeacherWithBf16HeadComputesLogitsOfTheStoredWeights() {
        try (Arena arena = Arena.ofShared()) {
            Tensor head = Tensor.of(arena, DType.BF16, KdReference.toFloat(tw), V, CT);
            DenseTeacher teacher = DenseTeacher.of(Tensor.of(arena, KdReference.toFloat(th), N, CT), head, 0);
            double[] storedHead = KdReference.toDouble(head.toFloatArray());   // the BF16-rounded weights
            double[] expected = KdReference.logits(th, storedHead, N, CT, V);
            Tensor out = Tensor.zeros(arena, DType.F32, 4, V);
            teacher.denseLogits(3, 4, out);
            assertClose("teacher logits of rows [3, 7)", Arrays.copyOfRange(expected, 3 * V, 7 * V),
                    KdReference.toDouble(out.toFloatArray()), 1e-5);
            TopKBlock block = teacher.truncatedTo(4).topKBlock(3, 4, 2);
            TopKBlock direct = TopKBlock.fromDense(out, 4, 2);
            assertEquals(Arrays.toString(direct.ids()), Arrays.toString(block.ids()), "top-k ids of a truncated teacher");
            assertEquals(Arrays.toString(direct.restLogSumExp()), Arrays.toString(block.restLogSumExp()));
        }
    }

    @Test
    void mismatchedTeachersAndTargetsAreRejectedWithClearMessages() {
        double[] z = KdReference.random(random, 2 * 5, 1), y = KdReference.random(random, 2 * 5, 1);
        int[] targets = {1, 2};
        KdConfig topK2 = new KdConfig(Divergence.FKL, 2, 1, 0, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> Runs.fromLogits(z, y, 2, 5, targets,
                topK2.withTemperature(1), 0, t -> new TopKBlockSource(new TopKBlock(2, 2, 2.0, new int[] {0, 1, 2, 3},
                        new float[4], new float[2]), 5)));
        assertEquals("distillation loss: teacher block made at temperature 2.0 but the config asks for T = 1.0 "
                + "(its rest log-sum-exp is only valid at its own T)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Runs.fromLogits(z, y, 2, 5, targets, topK2, 0,
                t -> new TopKBlockSource(new TopKBlock(2, 2, 2.0, new int[] {0, 1, 3, 3}, new float[4], new float[2]), 5)));
        assertEquals("top-k block: token id 3 appears twice at row 1", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Runs.fromLogits(z, y, 2, 5, targets, topK2.withTopK(0), 0, 2));
        assertEquals("distillation loss: the config asks for the full vocabulary (topK 0) but the teacher source holds top-2 blocks", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Runs.fromLogits(z, y, 2, 5, targets, topK2.withTopK(3), 0, 2));
        assertEquals("distillation loss: the config asks for top-3 but the teacher source holds top-2 blocks", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Runs.fromLogits(z, y, 2, 5, new int[] {1, 5}, topK2, 0, 0));
        assertEquals("distillation loss: target 5 at row 1 is outside the vocabulary [0, 5)", e.getMessage());
    }

    /** A source handing out one fixed block (for the error tests). */
    private record TopKBlockSource(TopKBlock block, int vocab) implements TeacherSource {
        @Override public int rows() { return block.rows(); }
        @Override public int topK() { return block.k(); }
        @Override public TopKBlock topKBlock(int row, int n, double temperature) { return block; }
    }
}
