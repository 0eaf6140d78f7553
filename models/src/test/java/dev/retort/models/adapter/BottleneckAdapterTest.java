package dev.retort.models.adapter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.Reductions;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * One bottleneck adapter on a Linear layer against a plain double-precision computation, forward and backward
 * (central differences in double), and adapters in a model: identity at initialisation, only they train.
 */
class BottleneckAdapterTest {
    static final int IN = 5, C = 6, SIZE = 3, ROWS = 4;
    static final String NAME = "model.layers.0.self_attn.adapter";

    /** A frozen F32 layer [C × IN] with a bias, and an adapter whose every parameter is random (non-zero). */
    record Setup(Linear linear, BottleneckAdapter adapter, Tensor x) {}

    static Setup setup(Arena arena) {
        Tensor w = Tensor.zeros(arena, DType.F32, C, IN);
        Tensor b = Tensor.zeros(arena, DType.F32, C);
        fillUniform(w, 0.6, 1);
        fillUniform(b, 0.3, 2);
        Linear linear = new Linear("model.layers.0.self_attn.o_proj", w, b, false);
        BottleneckAdapter adapter = new BottleneckAdapter(NAME, C, SIZE, 0, arena);
        long seed = 10;
        for (Parameter p : adapter.namedParameters().values()) fillUniform(p.value(), 0.8, seed++);
        linear.setAdapter(adapter);
        Tensor x = Tensor.zeros(arena, DType.F32, ROWS, IN);
        fillUniform(x, 1, 3);
        return new Setup(linear, adapter, x);
    }

    /** The values of a tensor as doubles (each exactly its float). */
    static double[] values(Tensor t) {
        double[] v = new double[(int) t.size()];
        for (int i = 0; i < v.length; i++) v[i] = t.getFlat(i);
        return v;
    }

    /**
     * y = x·Wᵀ + b, then y + W_up·silu(W_down·y + b_down) + b_up, all in double: the inputs are x [ROWS × IN],
     * W [C × IN], b [C], W_down [SIZE × C], b_down [SIZE], W_up [C × SIZE], b_up [C].
     */
    static double[] reference(double[] x, double[] w, double[] b, double[] wDown, double[] bDown, double[] wUp, double[] bUp) {
        double[] out = new double[ROWS * C];
        for (int i = 0; i < ROWS; i++) {
            double[] y = new double[C];
            for (int o = 0; o < C; o++) {
                double s = b[o];
                for (int k = 0; k < IN; k++) s += x[i * IN + k] * w[o * IN + k];
                y[o] = s;
            }
            double[] a = new double[SIZE];
            for (int j = 0; j < SIZE; j++) {
                double s = bDown[j];
                for (int o = 0; o < C; o++) s += wDown[j * C + o] * y[o];
                a[j] = s / (1 + Math.exp(-s));   // silu
            }
            for (int o = 0; o < C; o++) {
                double s = bUp[o];
                for (int j = 0; j < SIZE; j++) s += wUp[o * SIZE + j] * a[j];
                out[i * C + o] = y[o] + s;
            }
        }
        return out;
    }

    /** The reference's inputs: 0 x, 1 W, 2 b, 3 W_down, 4 b_down, 5 W_up, 6 b_up. */
    static double[][] inputs(Setup s) {
        BottleneckAdapter a = s.adapter;
        return new double[][] {values(s.x), values(s.linear.weight().value()), values(s.linear.bias().value()),
                values(a.downWeight().value()), values(a.downBias().value()), values(a.upWeight().value()), values(a.upBias().value())};
    }

    static double[] reference(double[][] in) {
        return reference(in[0], in[1], in[2], in[3], in[4], in[5], in[6]);
    }

    @Test
    void forwardMatchesDoublePrecision() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool(); Graph g = Graph.noGrad(pool)) {
            Setup s = setup(arena);
            float[] y = s.linear.forward(g.constant(s.x)).value().toFloatArray();
            assertClose("y + W_up·silu(W_down·y + b_down) + b_up", reference(inputs(s)), y, 1e-6);
        }
    }

    @Test
    void gradientsReachOnlyTheAdapterAndMatchCentralDifferencesInDouble() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool(); Graph g = Graph.withGrad(pool)) {
            Setup s = setup(arena);
            Tensor weights = Tensor.zeros(arena, DType.F32, ROWS, C);   // loss = Σ c ⊙ h'
            fillUniform(weights, 1, 4);
            Var xLeaf = g.leaf(s.x);
            Reductions.sum(Arithmetic.mul(s.linear.forward(xLeaf), g.constant(weights))).backward();
            assertNull(s.linear.weight().grad(), "the frozen base weight gets no gradient");
            assertNull(s.linear.bias().grad(), "the frozen base bias gets no gradient");

            double[][] in = inputs(s);
            double[] c = values(weights);
            BottleneckAdapter a = s.adapter;
            float[][] analytic = {xLeaf.grad().toFloatArray(), null, null, a.downWeight().grad().toFloatArray(),
                    a.downBias().grad().toFloatArray(), a.upWeight().grad().toFloatArray(), a.upBias().grad().toFloatArray()};
            String[] names = {"dL/dx", null, null, "dL/dW_down", "dL/db_down", "dL/dW_up", "dL/db_up"};
            for (int k = 0; k < in.length; k++) {
                if (analytic[k] == null) continue;
                double[] numeric = new double[in[k].length];
                for (int i = 0; i < numeric.length; i++) {
                    double keep = in[k][i], h = 1e-6;
                    in[k][i] = keep + h;
                    double plus = dot(reference(in), c);
                    in[k][i] = keep - h;
                    double minus = dot(reference(in), c);
                    in[k][i] = keep;
                    numeric[i] = (plus - minus) / (2 * h);
                }
                assertClose(names[k], numeric, analytic[k], 1e-5);
            }
        }
    }

    @Test
    void aFreshAdapterIsTheIdentityAndOnlyItsUpProjectionGetsAGradientAtFirst() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            BottleneckAdapter fresh = new BottleneckAdapter(NAME, 400, 8, 5, arena);
            float[] down = fresh.downWeight().value().toFloatArray();
            double bound = 1 / Math.sqrt(400);
            double sumSquares = 0;
            for (float v : down) {
                assertTrue(Math.abs(v) <= bound, "W_down element " + v + " outside ±" + bound);
                sumSquares += (double) v * v;
            }
            assertEquals(bound * bound / 3, sumSquares / down.length, 0.1 * bound * bound / 3, "variance of U(−b, b)");
            for (Tensor zero : List.of(fresh.downBias().value(), fresh.upWeight().value(), fresh.upBias().value())) {
                for (float v : zero.toFloatArray()) assertEquals(0f, v, "b_down, W_up and b_up start at zero");
            }
            assertArrayEquals(down, new BottleneckAdapter(NAME, 400, 8, 5, arena).downWeight().value().toFloatArray(),
                    "the same seed and name give the same W_down");

            Tensor h = Tensor.zeros(arena, DType.F32, 3, 400);
            fillUniform(h, 2, 6);
            try (Graph g = Graph.withGrad(pool)) {
                Var out = fresh.apply(null, g.constant(h));
                assertArrayEquals(h.toFloatArray(), out.value().toFloatArray(), "h + 0");
                Reductions.sum(out).backward();
            }
            assertTrue(maxAbs(fresh.upWeight().grad().toFloatArray()) > 0, "W_up learns from the first step");
            assertEquals(0, maxAbs(fresh.downWeight().grad().toFloatArray()), "W_down waits for W_up");
        }
    }

    @Test
    void freshAdaptersLeaveTheModelBitIdenticalAndTheyAloneTrain() {
        for (BottleneckConfig.Placement placement : BottleneckConfig.Placement.values()) {
            try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
                LlamaModel model = LlamaModel.random(tinyConfig(), arena, 7);
                float[] before = logits(model, pool);
                BottleneckModel adapters = BottleneckModel.attach(model, BottleneckConfig.of(4).withPlacement(placement));
                int perLayer = placement == BottleneckConfig.Placement.BOTH ? 2 : 1;
                assertEquals(2 * perLayer, adapters.adapters().size(), placement + ": adapters in 2 layers");
                assertEquals(4 * 2 * perLayer, adapters.parameters().size());
                assertArrayEquals(before, logits(model, pool), placement + ": logits with W_up = 0, b_up = 0");
                assertEquals(0, model.trainableParameters().size(), "every base parameter is frozen");

                randomise(adapters, 0.2, 11);
                try (Graph g = Graph.withGrad(pool)) {
                    model.loss(g, TOKENS, LlamaModel.shiftedTargets(TOKENS, 2, 6), 2, 6, 0).backward();
                }
                for (Parameter p : model.namedParameters().values()) assertNull(p.grad(), p.name() + " is frozen");
                for (Parameter p : adapters.parameters()) {
                    assertTrue(p.grad() != null && maxAbs(p.grad().toFloatArray()) > 0, p.name() + " has a non-zero gradient");
                }
                adapters.detach();
                assertArrayEquals(before, logits(model, pool), placement + ": detached, the model is the base again");
                assertEquals(model.namedParameters().size(), model.trainableParameters().size(), "detach restores trainable flags");
            }
        }
    }

    @Test
    void aLayerThatAlreadyHasAnAdapterIsRefused() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 7);
            dev.retort.models.lora.Lora.attach(model, dev.retort.models.lora.LoraConfig.of(2, 4, "o_proj"));
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> BottleneckModel.attach(model, BottleneckConfig.of(4)));
            assertTrue(e.getMessage().contains("o_proj' already has an adapter"), e.getMessage());
        }
    }

    // ---- shared with the other adapter tests -----------------------------------------------------------

    /** Two layers, GQA (4 heads, 2 KV heads), untied, C = 16, MLP 24, V = 32. */
    static LlamaConfig tinyConfig() {
        return new LlamaConfig(16, 24, 2, 4, 2, 4, 32, 32, 1e-5, 10000, null, false, 1, List.of(2), false, false, null);
    }

    static final int[] TOKENS = {1, 5, 9, 30, 2, 17, 4, 11, 3, 8, 25, 6};   // batch 2 × seq 6

    static float[] logits(LlamaModel model, BufferPool pool) {
        try (Graph g = Graph.noGrad(pool)) {
            return model.logits(g, TOKENS, 2, 6).value().toFloatArray();
        }
    }

    /** Gives every adapter parameter values in U(−bound, bound), so the adapters change the output. */
    static void randomise(BottleneckModel adapters, double bound, long seed) {
        long s = seed;
        for (Parameter p : adapters.parameters()) fillUniform(p.value(), bound, s++);
    }

    static void fillUniform(Tensor t, double bound, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long i = 0; i < t.size(); i++) t.setFlat(i, (float) ((random.nextDouble() * 2 - 1) * bound));
    }

    static double maxAbs(float[] values) {
        double m = 0;
        for (float v : values) m = Math.max(m, Math.abs(v));
        return m;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /** Every |actual − expected| ≤ tolerance · max(1, max|expected|). */
    static void assertClose(String what, double[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, what + ": size");
        double scale = 1;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= tolerance * scale)) {
                fail(String.format(Locale.ROOT, "%s: element %d expected %.9g got %.9g (error %.3g > %.1g × %.3g)",
                        what, i, expected[i], actual[i], err, tolerance, scale));
            }
        }
    }
}
