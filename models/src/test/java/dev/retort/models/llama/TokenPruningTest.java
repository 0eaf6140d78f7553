package dev.retort.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.ops.Embedding;
import dev.retort.autograd.ops.PerturbedTopK;
import dev.retort.autograd.ops.Reductions;
import dev.retort.autograd.ops.Shapes;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Token pruning in the training forward of {@link LlamaModel}, on stories260K (a real trained tiny Llama). */
class TokenPruningTest {
    static final int IGNORE = CrossEntropy.IGNORE_INDEX;

    /** stories260K from the shared assets; the test is skipped where they are absent. */
    static Path stories() {
        Path path = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K").normalize();
        Assumptions.assumeTrue(Files.isRegularFile(path.resolve("model.safetensors")), "stories260K not present at " + path);
        return path;
    }

    /** Two rows of 24 tokens: prompts of 15 and 9 tokens (14 and 8 prunable), then answers. */
    static final int T = 24;
    static final int[] PRUNABLE = {14, 8};

    static int[] tokens() {
        SplittableRandom r = new SplittableRandom(7);
        int[] t = new int[2 * T];
        for (int i = 0; i < t.length; i++) t[i] = 3 + r.nextInt(500);
        t[0] = 1;
        t[T] = 1;
        return t;
    }

    /** Next-token targets counted from the last prompt token on (prompt positions before it ignored). */
    static int[] targets(int[] tokens) {
        int[] tg = LlamaModel.shiftedTargets(tokens, 2, T);
        for (int b = 0; b < 2; b++) for (int t = 0; t < PRUNABLE[b]; t++) tg[b * T + t] = IGNORE;
        return tg;
    }

    static float[] values(Var v) { return v.value().toFloatArray(); }

    @Test
    void prunableTokensAreThoseBeforeTheFirstTarget() {
        int[] tokens = tokens();
        assertArrayEquals(PRUNABLE, TokenPruning.prunableFromTargets(targets(tokens), 2, T, IGNORE));
        int[] none = new int[2 * T];
        java.util.Arrays.fill(none, IGNORE);
        assertArrayEquals(new int[] {0, 0}, TokenPruning.prunableFromTargets(none, 2, T, IGNORE));
    }

    /** The unpruned forward is the same code whether or not pruning is configured: bitwise the same hidden states. */
    @Test
    void withoutPruningTheForwardIsBitwiseUnchanged() {
        int[] tokens = tokens();
        try (ModelWeights weights = ModelWeights.open(stories()); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(stories()), weights, arena, true);
            float[] before, after;
            try (Graph g = Graph.noGrad(pool)) { before = values(model.hidden(g, tokens, 2, T, null)); }
            model.setPruning(new TokenPruning(TokenPruning.Settings.of(2, 0.5), 64, arena));
            try (Graph g = Graph.noGrad(pool)) { after = values(model.hidden(g, tokens, 2, T, null)); }
            assertArrayEquals(before, after);
        }
    }

    /** Keep ratio 1 with the hard top-k: the selection is the identity and the pruned forward is bitwise the unpruned. */
    @ParameterizedTest
    @ValueSource(strings = {"learned", "attention", "random"})
    void keepingEverythingIsBitwiseTheUnprunedForward(String mode) {
        int[] tokens = tokens();
        try (ModelWeights weights = ModelWeights.open(stories()); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(stories()), weights, arena, true);
            model.setPruning(new TokenPruning(TokenPruning.Settings.of(2, 1.0).withMode(TokenPruning.Mode.parse(mode)), 64, arena));
            try (Graph g = Graph.noGrad(pool)) {
                float[] full = values(model.hidden(g, tokens, 2, T, null));
                LlamaModel.Pruned p = model.pruned(g, tokens, PRUNABLE, 2, T, model.pruning().step(3));
                assertEquals(T, p.layout().seq());
                assertArrayEquals(full, values(p.hidden()));
            }
        }
    }

    /**
     * The pruned forward against a reference that literally deletes the dropped tokens: each row alone, layers
     * 0..L−1 on all its tokens, then the kept rows copied out (slice + concat) and layers L.. run on them with their
     * original positions passed explicitly. Values match, kept tokens are in order, and the gradients of every
     * parameter match too (the selection matrix's backward against slices').
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 2, 4})
    void prunedForwardAndBackwardEqualDeletingTheTokens(int layer) {
        int[] tokens = tokens();
        try (ModelWeights weights = ModelWeights.open(stories()); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(stories()), weights, arena, true);
            TokenPruning pruning = new TokenPruning(TokenPruning.Settings.of(layer, 0.5), 64, arena);
            model.setPruning(pruning);
            SplittableRandom random = new SplittableRandom(11);
            // σ = 0: the hard top-k inside a graph with gradients (the student's gradient path alone)
            TokenPruning.Step step = new TokenPruning.Step(0.5, 0, 5);
            TokenPruning.Layout layout;
            float[] pruned;
            Map<String, float[]> prunedGrads;
            float[] weightsR;
            try (Graph g = Graph.withGrad(pool)) {
                LlamaModel.Pruned p = model.pruned(g, tokens, PRUNABLE, 2, T, step);
                layout = p.layout();
                pruned = values(p.hidden());
                weightsR = new float[pruned.length];
                for (int i = 0; i < weightsR.length; i++) weightsR[i] = layout.origin()[i / 64] < 0 ? 0 : (float) (random.nextDouble() * 2 - 1);
                Reductions.sum(Arithmetic.mul(p.hidden(), g.constant(tensor(g, weightsR, 2, layout.seq(), 64)))).backward();
                prunedGrads = grads(model);
            }
            model.zeroGrad();
            // kept tokens: keepCount of the prunable ones, ascending, then every later token in order
            for (int b = 0; b < 2; b++) {
                int[] kept = layout.kept()[b];
                assertEquals(PerturbedTopK.keepCount(0.5, PRUNABLE[b]), kept.length);
                int n = kept.length + T - PRUNABLE[b];
                for (int i = 1; i < n; i++) {
                    assertTrue(layout.positions()[b * layout.seq() + i] > layout.positions()[b * layout.seq() + i - 1], "order kept");
                }
                for (int i = n; i < layout.seq(); i++) assertEquals(-1, layout.origin()[b * layout.seq() + i], "padding last");
            }
            try (Graph g = Graph.withGrad(pool)) {
                Var total = null;
                for (int b = 0; b < 2; b++) {
                    int[] rowTokens = java.util.Arrays.copyOfRange(tokens, b * T, (b + 1) * T);
                    int[] positions = new int[T];
                    for (int t = 0; t < T; t++) positions[t] = t;
                    Var x = Shapes.reshape(Embedding.lookup(g, model.embedTokens(), rowTokens, 0, T), 1, T, 64);
                    for (int l = 0; l < layer; l++) x = model.layers().get(l).forward(x, positions, model.rope());
                    List<Var> rows = new ArrayList<>();
                    List<Integer> kept = new ArrayList<>();
                    for (int t : layout.kept()[b]) kept.add(t);
                    for (int t = PRUNABLE[b]; t < T; t++) kept.add(t);
                    for (int t : kept) rows.add(Shapes.slice(x, 1, t, t + 1));
                    x = Shapes.concat(1, rows.toArray(Var[]::new));                       // [1 × n × C]
                    int[] original = kept.stream().mapToInt(Integer::intValue).toArray();
                    for (int l = layer; l < model.layers().size(); l++) x = model.layers().get(l).forward(x, original, model.rope());
                    Var h = model.norm().forward(x);
                    float[] ref = values(h);
                    float[] r = new float[ref.length];
                    for (int i = 0; i < ref.length; i++) {
                        float got = pruned[(b * layout.seq()) * 64 + i];
                        assertEquals(ref[i], got, 2e-5 * Math.max(1, Math.abs(ref[i])), "row " + b + " element " + i);
                        r[i] = weightsR[(b * layout.seq()) * 64 + i];
                    }
                    Var term = Reductions.sum(Arithmetic.mul(h, g.constant(tensor(g, r, 1, kept.size(), 64))));
                    total = total == null ? term : Arithmetic.add(total, term);
                }
                total.backward();
                Map<String, float[]> refGrads = grads(model);
                for (var e : refGrads.entrySet()) {
                    float[] want = e.getValue(), got = prunedGrads.get(e.getKey());
                    double scale = 0;
                    for (float w : want) scale = Math.max(scale, Math.abs(w));
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], got[i], 1e-4 * Math.max(scale, 1e-3), e.getKey() + "[" + i + "]");
                    }
                }
            }
        }
    }

    /**
     * Training: the scorer gets a non-zero gradient through the perturbed top-k, and a few steps of SGD on the
     * student and the scorer lower the pruned loss (measured with the hard top-k, as at evaluation).
     */
    @Test
    void theScorerGetsAGradientAndTheStudentTrains() {
        int[] tokens = tokens(), targets = targets(tokens);
        try (ModelWeights weights = ModelWeights.open(stories()); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(stories()), weights, arena, true);
            TokenPruning pruning = new TokenPruning(new TokenPruning.Settings(2, 0.5, 16, 0.1, TokenPruning.Mode.LEARNED, 1), 64, arena);
            model.setPruning(pruning);
            List<Parameter> params = new ArrayList<>(model.trainableParameters());
            params.addAll(pruning.trainableParameters());
            double before = evalLoss(model, pool, tokens, targets), scorerGrad = 0;
            for (int step = 0; step < 20; step++) {
                try (Graph g = Graph.withGrad(pool)) {
                    model.prunedLoss(g, tokens, targets, 2, T, 0, new TokenPruning.Step(0.5, 0.1, step)).backward();
                }
                if (step == 0) {
                    Tensor grad = pruning.scorer().weight().grad();
                    for (long i = 0; i < grad.size(); i++) scorerGrad += Math.abs(grad.getFlat(i));
                }
                for (Parameter p : params) {
                    if (p.grad() == null) continue;
                    for (long i = 0; i < p.value().size(); i++) p.value().setFlat(i, p.value().getFlat(i) - 0.05f * p.grad().getFlat(i));
                    p.zeroGrad();
                }
            }
            double after = evalLoss(model, pool, tokens, targets);
            assertTrue(scorerGrad > 0, "the scorer's weight has a gradient");
            assertTrue(after < before - 0.1, "the pruned loss fell from " + before + " to " + after);
        }
    }

    /**
     * --prune-score-norm minmax makes the perturbed top-k blind to the scorer's scale: scaling the scorer's weight and
     * bias by 10 leaves the training loss (same noise seed) where it was, up to rounding, and gives the same scorer
     * gradient direction; without it the same noise is ten times smaller against the scores and the loss moves.
     */
    @Test
    void minMaxNormalizedScoresMakeTheTrainingSelectionBlindToTheScorersScale() {
        int[] tokens = tokens(), targets = targets(tokens);
        try (ModelWeights weights = ModelWeights.open(stories()); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(stories()), weights, arena, true);
            TokenPruning pruning = new TokenPruning(new TokenPruning.Settings(2, 0.5, 16, 0.3, TokenPruning.Mode.LEARNED, 1), 64, arena);
            model.setPruning(pruning);
            TokenPruning.Step step = new TokenPruning.Step(0.5, 0.3, 42);
            double[] normalized = new double[2], raw = new double[2];
            float[][] gradient = new float[2][];
            for (int scaled = 0; scaled < 2; scaled++) {
                if (scaled == 1) {
                    Tensor w = pruning.scorer().weight().value();
                    for (long i = 0; i < w.size(); i++) w.setFlat(i, w.getFlat(i) * 10);
                    pruning.scorer().bias().value().setFlat(0, 0.7f);   // a shift changes nothing either
                }
                for (boolean norm : new boolean[] {true, false}) {
                    pruning.setNormalizeScores(norm);
                    try (Graph g = Graph.withGrad(pool)) {
                        Var loss = model.prunedLoss(g, tokens, targets, 2, T, 0, step);
                        (norm ? normalized : raw)[scaled] = loss.item();
                        if (norm) {
                            loss.backward();
                            gradient[scaled] = pruning.scorer().weight().grad().toFloatArray();
                        }
                    }
                    for (Parameter p : model.trainableParameters()) p.zeroGrad();
                    for (Parameter p : pruning.trainableParameters()) p.zeroGrad();
                }
            }
            assertEquals(normalized[0], normalized[1], 1e-4, "normalized: the loss at scale 1 and at scale 10");
            assertTrue(Math.abs(raw[0] - raw[1]) > 1e-3, "raw scores: the loss moves with the scorer's scale (" + raw[0] + " vs " + raw[1] + ")");
            double dot = 0, a = 0, b = 0;
            for (int i = 0; i < gradient[0].length; i++) {
                dot += gradient[0][i] * gradient[1][i];
                a += gradient[0][i] * gradient[0][i];
                b += gradient[1][i] * gradient[1][i];
            }
            assertTrue(a > 0, "the scorer gets a gradient");
            assertTrue(dot / Math.sqrt(a * b) > 0.999, "the scorer's gradient points the same way at both scales: cosine " + dot / Math.sqrt(a * b));
        }
    }

    /**
     * The selection matrix op against its definition in double: S = place(Ȳ) and, for L = Σ S ⊙ R, dL/dȲ (central
     * differences of the double reference, exact for this linear map) is R on the kept rows and 0 on padding rows.
     */
    @Test
    void theSelectionMatrixAndItsBackwardMatchTheDefinition() {
        int seq = 6, k = 3;
        int[] prunable = {4, 2};
        int[][] kept = {{0, 1, 3}, {1}};
        TokenPruning.Layout layout = TokenPruning.layout(kept, prunable, 2, seq);
        assertEquals(5, layout.seq());   // row 0: 3 kept + 2 answer; row 1: 1 kept + 4 answer
        assertArrayEquals(new int[] {0, 1, 3, 4, 5, 7, 8, 9, 10, 11}, layout.origin());
        SplittableRandom random = new SplittableRandom(3);
        double[] y = new double[2 * k * seq], r = new double[2 * layout.seq() * seq];
        for (int i = 0; i < y.length; i++) y[i] = random.nextDouble();
        for (int i = 0; i < r.length; i++) r[i] = random.nextDouble() * 2 - 1;
        try (BufferPool pool = new BufferPool(); Graph g = Graph.withGrad(pool)) {
            Tensor yt = g.allocate(2, k, seq);
            for (int i = 0; i < y.length; i++) yt.setFlat(i, (float) y[i]);
            Var ybar = g.leaf(yt);
            Var s = TokenPruning.place(ybar, layout, prunable);
            double[] want = placeReference(y, layout, prunable, k, seq);
            float[] got = values(s);
            for (int i = 0; i < want.length; i++) assertEquals(want[i], got[i], 1e-6, "S[" + i + "]");
            float[] rf = new float[r.length];
            for (int i = 0; i < r.length; i++) rf[i] = (float) r[i];
            Reductions.sum(Arithmetic.mul(s, g.constant(tensor(g, rf, 2, layout.seq(), seq)))).backward();
            float[] dy = ybar.grad().toFloatArray();
            double h = 1e-3;
            for (int i = 0; i < y.length; i++) {
                double[] plus = y.clone(), minus = y.clone();
                plus[i] += h;
                minus[i] -= h;
                double fd = (dot(placeReference(plus, layout, prunable, k, seq), r) - dot(placeReference(minus, layout, prunable, k, seq), r)) / (2 * h);
                assertEquals(fd, dy[i], 1e-5, "dY[" + i + "]");
            }
        }
    }

    static double[] placeReference(double[] y, TokenPruning.Layout layout, int[] prunable, int k, int seq) {
        int s = layout.seq();
        double[] out = new double[2 * s * seq];
        for (int b = 0; b < 2; b++) {
            int kb = layout.kept()[b].length;
            for (int row = 0; row < kb; row++) for (int t = 0; t < seq; t++) out[(b * s + row) * seq + t] = y[(b * k + row) * seq + t];
            for (int j = 0; prunable[b] + j < seq; j++) out[(b * s + kb + j) * seq + prunable[b] + j] = 1;
        }
        return out;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    @Test
    void settingsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> TokenPruning.Settings.of(0, 0.5).withMode(TokenPruning.Mode.ATTENTION));
        assertThrows(IllegalArgumentException.class, () -> TokenPruning.Settings.of(1, 0));
        try (ModelWeights weights = ModelWeights.open(stories()); Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(stories()), weights, arena, false);
            assertThrows(IllegalArgumentException.class, () -> model.setPruning(new TokenPruning(TokenPruning.Settings.of(5, 0.5), 64, arena)));
        }
    }

    static double evalLoss(LlamaModel model, BufferPool pool, int[] tokens, int[] targets) {
        try (Graph g = Graph.noGrad(pool)) {
            return model.prunedLoss(g, tokens, targets, 2, T, 0, model.pruning().step(0)).item();
        }
    }

    static Tensor tensor(Graph g, float[] values, int... shape) {
        Tensor t = g.allocate(shape);
        for (int i = 0; i < values.length; i++) t.setFlat(i, values[i]);
        return t;
    }

    static Map<String, float[]> grads(LlamaModel model) {
        Map<String, float[]> out = new HashMap<>();
        for (var e : model.namedParameters().entrySet()) {
            Tensor grad = e.getValue().grad();
            if (grad != null) out.put(e.getKey(), grad.toFloatArray());
        }
        return out;
    }
}
