package dev.retort.models.lora;

import static dev.retort.models.lora.LoraTesting.assertBitIdentical;
import static dev.retort.models.lora.LoraTesting.assertClose;
import static dev.retort.models.lora.LoraTesting.fillUniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.Reductions;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

/** One adapted Linear layer against a double-precision computation, and the adapters inside a model. */
class LoraAdapterTest {
    static final int IN = 5, OUT = 4, RANK = 3, ROWS = 6;
    static final String LAYER = "model.layers.0.self_attn.q_proj";

    /** A frozen F32 layer [OUT × IN] with an adapter whose B is random (non-zero). */
    record Setup(Linear linear, LoraAdapter adapter, Tensor x) {}

    static Setup setup(Arena arena, LoraConfig config) {
        Tensor w = Tensor.zeros(arena, DType.F32, OUT, IN);
        fillUniform(w, 0.5, 1);
        Linear linear = new Linear(LAYER, w, null, false);
        LoraAdapter adapter = new LoraAdapter(LAYER, IN, OUT, config, arena);
        fillUniform(adapter.b().value(), 0.5, 2);
        linear.setAdapter(adapter);
        Tensor x = Tensor.zeros(arena, DType.F32, ROWS, IN);
        fillUniform(x, 1, 3);
        return new Setup(linear, adapter, x);
    }

    /** y'[i][o] = Σ_k x[i][k]·W[o][k] + scale · Σ_j B[o][j] · Σ_k A[j][k]·x[i][k], in double. */
    static double[] reference(Tensor x, Tensor w, Tensor a, Tensor b, double scale) {
        double[] y = new double[ROWS * OUT];
        for (int i = 0; i < ROWS; i++) {
            for (int o = 0; o < OUT; o++) {
                double base = 0, lora = 0;
                for (int k = 0; k < IN; k++) base += (double) x.get(i, k) * w.get(o, k);
                for (int j = 0; j < RANK; j++) {
                    double down = 0;
                    for (int k = 0; k < IN; k++) down += (double) a.get(j, k) * x.get(i, k);
                    lora += b.get(o, j) * down;
                }
                y[i * OUT + o] = base + scale * lora;
            }
        }
        return y;
    }

    @Test
    void adaptedOutputMatchesDoublePrecision() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool(); Graph g = Graph.noGrad(pool)) {
            LoraConfig config = LoraConfig.of(RANK, 6, "q_proj");
            Setup s = setup(arena, config);
            float[] y = s.linear.forward(g.constant(s.x)).value().toFloatArray();
            assertClose("x·Wᵀ + (α/r)·x·Aᵀ·Bᵀ", reference(s.x, s.linear.weight().value(), s.adapter.a().value(),
                    s.adapter.b().value(), 6.0 / RANK), y, 1e-6);
        }
    }

    @Test
    void rsLoraScalesTheUpdateByAlphaOverRootRank() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool(); Graph g = Graph.noGrad(pool)) {
            Setup s = setup(arena, LoraConfig.of(RANK, 6, "q_proj").withRsLora(true));
            assertEquals((float) (6 / Math.sqrt(RANK)), s.adapter.scale(), 0, "adapter scale");
            float[] y = s.linear.forward(g.constant(s.x)).value().toFloatArray();
            assertClose("x·Wᵀ + (α/√r)·x·Aᵀ·Bᵀ", reference(s.x, s.linear.weight().value(), s.adapter.a().value(),
                    s.adapter.b().value(), 6 / Math.sqrt(RANK)), y, 1e-6);
        }
    }

    @Test
    void initialisationIsPeftDefaultAUniformWithinOneOverRootInAndBZero() {
        try (Arena arena = Arena.ofShared()) {
            int in = 400;
            LoraAdapter adapter = new LoraAdapter("model.layers.1.mlp.down_proj", in, 7, LoraConfig.of(8, 16, "down_proj"), arena);
            float[] a = adapter.a().value().toFloatArray();
            double bound = 1 / Math.sqrt(in), sum = 0, sumSquares = 0;
            for (float v : a) {
                assertTrue(Math.abs(v) <= bound, "A element " + v + " outside ±" + bound);
                sum += v;
                sumSquares += (double) v * v;
            }
            // U(−b, b) has mean 0 and variance b²/3; 3200 samples put both well within these bounds.
            assertEquals(0, sum / a.length, 0.1 * bound, "mean of A");
            assertEquals(bound * bound / 3, sumSquares / a.length, 0.1 * bound * bound / 3, "variance of A");
            assertEquals(0, LoraTesting.maxAbs(adapter.b().value().toFloatArray()), 0, "B starts at zero");
            LoraAdapter again = new LoraAdapter("model.layers.1.mlp.down_proj", in, 7, LoraConfig.of(8, 16, "down_proj"), arena);
            assertBitIdentical("same seed and layer, same A", a, again.a().value().toFloatArray());
            LoraAdapter other = new LoraAdapter("model.layers.1.mlp.down_proj", in, 7, LoraConfig.of(8, 16, "down_proj").withSeed(1), arena);
            assertNotEquals(a[0], other.a().value().getFlat(0), "another seed, another A");
        }
    }

    @Test
    void gradientsReachOnlyAAndBAndMatchFiniteDifferencesInDouble() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LoraConfig config = LoraConfig.of(RANK, 6, "q_proj");
            Setup s = setup(arena, config);
            Tensor weights = Tensor.zeros(arena, DType.F32, ROWS, OUT);   // loss = Σ c ⊙ y'
            fillUniform(weights, 1, 4);
            Var xLeaf;
            try (Graph g = Graph.withGrad(pool)) {
                xLeaf = g.leaf(s.x);
                Var loss = Reductions.sum(Arithmetic.mul(s.linear.forward(xLeaf), g.constant(weights)));
                loss.backward();
                float[] dx = xLeaf.grad().toFloatArray();
                Parameter a = s.adapter.a(), b = s.adapter.b();
                assertNull(s.linear.weight().grad(), "the frozen base weight gets no gradient");
                double scale = 6.0 / RANK;
                DoubleSupplier f = () -> {
                    double[] y = reference(s.x, s.linear.weight().value(), a.value(), b.value(), scale);
                    double total = 0;
                    for (int i = 0; i < y.length; i++) total += y[i] * weights.getFlat(i);
                    return total;
                };
                assertClose("dL/dA", finiteDifferences(a.value(), f), a.grad().toFloatArray(), 1e-5);
                assertClose("dL/dB", finiteDifferences(b.value(), f), b.grad().toFloatArray(), 1e-5);
                assertClose("dL/dx through W and the adapter", finiteDifferences(s.x, f), dx, 1e-5);
            }
        }
    }

    /**
     * Central differences of f with respect to every element of t, in double: f is evaluated in double from
     * the float elements, and steps of ±2⁻⁸ are exact in float for these magnitudes; f is linear in each
     * single element, so the difference quotient is exact up to double rounding.
     */
    static double[] finiteDifferences(Tensor t, DoubleSupplier f) {
        double h = 1.0 / 256;
        double[] grad = new double[(int) t.size()];
        for (int i = 0; i < grad.length; i++) {
            float original = t.getFlat(i);
            t.setFlat(i, (float) (original + h));
            double plus = f.getAsDouble();
            t.setFlat(i, (float) (original - h));
            double minus = f.getAsDouble();
            t.setFlat(i, original);
            grad[i] = (plus - minus) / ((double) (float) (original + h) - (double) (float) (original - h));
        }
        return grad;
    }

    @Test
    void freshAdaptersLeaveTheModelOutputBitIdentical() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(LoraTesting.tinyConfig(), arena, 7);
            float[] before = LoraTesting.logits(model);
            LoraModel lora = Lora.attach(model, LoraConfig.of(4, 8, "all-linear"));
            assertEquals(14, lora.adapters().size(), "7 linears × 2 layers");
            assertBitIdentical("logits with B = 0", before, LoraTesting.logits(model));
        }
    }

    @Test
    void inAModelOnlyAdapterParametersTrainAndReceiveGradients() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.random(LoraTesting.tinyConfig(), arena, 7);
            LoraModel lora = Lora.attach(model, LoraConfig.of(2, 4, "q_proj", "down_proj"));
            LoraTesting.randomiseB(lora, 0.1, 11);
            assertEquals(0, model.trainableParameters().size(), "every base parameter is frozen");
            assertEquals(8, lora.parameters().size(), "A and B of 2 modules × 2 layers");
            try (Graph g = Graph.withGrad(pool)) {
                int[] targets = LlamaModel.shiftedTargets(LoraTesting.TOKENS, 2, 6);
                model.loss(g, LoraTesting.TOKENS, targets, 2, 6, 0).backward();
            }
            for (Parameter p : model.namedParameters().values()) assertNull(p.grad(), p.name() + " is frozen");
            for (Parameter p : lora.parameters()) {
                assertTrue(p.grad() != null && LoraTesting.maxAbs(p.grad().toFloatArray()) > 0, p.name() + " has a non-zero gradient");
            }
        }
    }

    @Test
    void dropoutActsOnlyWhileTrainingAndItsMasksFollowTheCallCounter() {
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LoraConfig config = LoraConfig.of(RANK, 6, "q_proj").withDropout(0.5);
            Setup s = setup(arena, config);
            double[] noDropout = reference(s.x, s.linear.weight().value(), s.adapter.a().value(), s.adapter.b().value(), 2);
            try (Graph g = Graph.noGrad(pool)) {
                assertClose("evaluation: no dropout", noDropout, s.linear.forward(g.constant(s.x)).value().toFloatArray(), 1e-6);
            }
            assertEquals(0, s.adapter.dropoutCalls(), "evaluation does not advance the counter");
            float[] first, second, replay;
            try (Graph g = Graph.withGrad(pool)) {
                first = s.linear.forward(g.constant(s.x)).value().toFloatArray();
                second = s.linear.forward(g.constant(s.x)).value().toFloatArray();
            }
            assertEquals(2, s.adapter.dropoutCalls());
            s.adapter.setDropoutCalls(0);
            try (Graph g = Graph.withGrad(pool)) {
                replay = s.linear.forward(g.constant(s.x)).value().toFloatArray();
            }
            assertBitIdentical("the same counter gives the same mask", first, replay);
            boolean differs = false;
            for (int i = 0; i < first.length; i++) differs |= first[i] != second[i];
            assertTrue(differs, "consecutive calls draw different masks");
        }
    }
}
