package dev.retort.distill.loss;

import static dev.retort.distill.loss.KdReference.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;

/** Feature losses against double-precision formulas and their finite differences; layer map parsing. */
class FeatureLossTest {
    private static final int N = 6, CS = 4, CT = 7;
    private final SplittableRandom random = new SplittableRandom(77);

    /** s·Pᵀ in double: s [N × Cs], P [Ct × Cs]. */
    private static double[] project(double[] s, double[] proj) {
        return KdReference.logits(s, proj, N, CS, CT);
    }

    private static double mse(double[] s, double[] t) {
        double sum = 0;
        for (int i = 0; i < s.length; i++) sum += (s[i] - t[i]) * (s[i] - t[i]);
        return sum / s.length;
    }

    private static double cosine(double[] s, double[] t, int width) {
        double sum = 0;
        int rows = s.length / width;
        for (int r = 0; r < rows; r++) {
            double dot = 0, ss = 0, tt = 0;
            for (int j = 0; j < width; j++) {
                double a = s[r * width + j], b = t[r * width + j];
                dot += a * b;
                ss += a * a;
                tt += b * b;
            }
            sum += 1 - dot / Math.sqrt(ss * tt);
        }
        return sum / rows;
    }

    interface FeatureOp {
        Var apply(Var student, Var teacher, Var projection);
    }

    /** Runs the op; returns {loss, dStudent, dProjection (or null)}. The teacher var is a leaf: it must get no gradient. */
    private static Object[] run(FeatureOp op, double[] s, double[] t, double[] proj, int cs, int ct) {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var student = g.leaf(Tensor.of(arena, KdReference.toFloat(s), N, cs));
            Var teacher = g.leaf(Tensor.of(arena, KdReference.toFloat(t), N, ct));
            Var projection = proj == null ? null : g.leaf(Tensor.of(arena, KdReference.toFloat(proj), ct, cs));
            Var loss = op.apply(student, teacher, projection);
            loss.backward();
            assertNull(teacher.grad(), "the teacher's features must receive no gradient");
            return new Object[] {(double) loss.item(), KdReference.toDouble(student.grad().toFloatArray()),
                    projection == null ? null : KdReference.toDouble(projection.grad().toFloatArray())};
        }
    }

    private void check(String name, FeatureOp op, ToDoubleFunction<double[][]> reference) {
        // same widths, no projection
        double[] s = KdReference.random(random, N * CT, 1), t = KdReference.random(random, N * CT, 1);
        Object[] out = run(op, s, t, null, CT, CT);
        assertClose(name + " value", reference.applyAsDouble(new double[][] {s, t}), (double) out[0], 1e-6);
        assertClose(name + " dStudent", KdReference.numericGradient(x -> reference.applyAsDouble(new double[][] {x, t}), s),
                (double[]) out[1], 1e-4);
        // different widths through a learned projection [Ct × Cs]
        double[] s2 = KdReference.random(random, N * CS, 1), proj = KdReference.random(random, CT * CS, 1);
        out = run(op, s2, t, proj, CS, CT);
        assertClose(name + " value through a projection", reference.applyAsDouble(new double[][] {project(s2, proj), t}), (double) out[0], 1e-6);
        assertClose(name + " dStudent through a projection",
                KdReference.numericGradient(x -> reference.applyAsDouble(new double[][] {project(x, proj), t}), s2), (double[]) out[1], 1e-4);
        assertClose(name + " dProjection",
                KdReference.numericGradient(x -> reference.applyAsDouble(new double[][] {project(s2, x), t}), proj), (double[]) out[2], 1e-4);
    }

    @Test
    void meanSquaredErrorAndItsGradientsMatchTheFormula() {
        check("mse", FeatureLoss::mse, x -> mse(x[0], x[1]));
    }

    @Test
    void cosineDistanceAndItsGradientsMatchTheFormula() {
        check("cosine", FeatureLoss::cosine, x -> cosine(x[0], x[1], CT));
    }

    @Test
    void mismatchedWidthsWithoutProjectionAreRejected() {
        double[] s = KdReference.random(random, N * CS, 1), t = KdReference.random(random, N * CT, 1);
        var e = assertThrows(IllegalArgumentException.class, () -> run(FeatureLoss::mse, s, t, null, CS, CT));
        assertEquals("feature mse: student width 4 differs from teacher width 7; pass a projection [7 × 4]", e.getMessage());
    }

    // ---- layer maps ------------------------------------------------------------------------------------

    @Test
    void layerMapParsesPairsAndPrintsThemBack() {
        LayerMap map = LayerMap.parse("0:1, 1:3 ,2:5");
        assertEquals(3, map.pairs().size());
        assertEquals(new LayerMap.Pair(1, 3), map.pairs().get(1));
        assertEquals("0:1,1:3,2:5", map.toString());
        assertEquals(map, LayerMap.parse(map.toString()));
        assertEquals(map, map.validate(3, 6));
        assertEquals("0:2,1:5", LayerMap.uniform(2, 6).toString());
        assertEquals("0:1,1:3,2:5", LayerMap.uniform(3, 6).toString());
        assertEquals("0:0,1:1,2:2", LayerMap.uniform(3, 3).toString());
    }

    @Test
    void malformedLayerMapsGiveOneLineErrors() {
        assertEquals("layer map: empty; expected student:teacher pairs such as \"0:1,1:3,2:5\"",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse(" ")).getMessage());
        assertEquals("layer map: entry '1-3' in \"0:1,1-3\" is not of the form student:teacher (e.g. \"0:1,1:3,2:5\")",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("0:1,1-3")).getMessage());
        assertEquals("layer map: entry '' in \"0:1,\" is not of the form student:teacher (e.g. \"0:1,1:3,2:5\")",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("0:1,")).getMessage());
        assertEquals("layer map: 'x' in entry '1:x' of \"0:1,1:x\" is not a layer number (expected a non-negative integer)",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("0:1,1:x")).getMessage());
        assertEquals("layer map: layer indices must be >= 0, got -1:2",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("-1:2")).getMessage());
        assertEquals("layer map: student layer 0 is mapped twice",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("0:1,0:2")).getMessage());
        assertEquals("layer map: teacher layer 6 in \"0:1,1:6\" does not exist (the teacher has layers 0..5)",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("0:1,1:6").validate(2, 6)).getMessage());
        assertEquals("layer map: student layer 2 in \"2:3\" does not exist (the student has layers 0..1)",
                assertThrows(IllegalArgumentException.class, () -> LayerMap.parse("2:3").validate(2, 6)).getMessage());
    }
}
