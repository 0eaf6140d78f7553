package dev.retort.autograd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Checks an op against a double-precision reference written in the test: its forward values, and its
 * gradients against central finite differences of the reference. The scalar being differentiated is
 * L = Σ out ⊙ R for a fixed random R, so every output element's gradient path is exercised.
 */
final class GradCheck {
    private GradCheck() {}

    /** The op under test, built from leaves in a graph. */
    interface Op {
        Var apply(Graph g, Var[] inputs);
    }

    /** The same op in double precision: inputs (flat, row-major) to the flat output. */
    interface Reference {
        double[] apply(double[][] inputs);
    }

    /** One input: its shape, its values, and whether its gradient is checked. */
    record Input(int[] shape, double[] values, boolean differentiate) {
        static Input random(SplittableRandom random, int... shape) {
            int n = 1;
            for (int d : shape) n *= d;
            double[] v = new double[n];
            for (int i = 0; i < n; i++) v[i] = random.nextDouble() * 2 - 1;
            return new Input(shape, v, true);
        }

        Input constant() {
            return new Input(shape, values, false);
        }
    }

    /**
     * Runs the check. {@code forwardTolerance} and {@code gradientTolerance} are relative to the largest
     * magnitude of the reference's values (resp. finite-difference gradients); at most {@code samples}
     * elements per input are differentiated numerically.
     */
    static void check(String name, Op op, Reference reference, double forwardTolerance, double gradientTolerance,
                      Input... inputs) {
        SplittableRandom random = new SplittableRandom(name.hashCode());
        double[][] values = new double[inputs.length][];
        for (int i = 0; i < inputs.length; i++) values[i] = inputs[i].values().clone();
        double[] expected = reference.apply(values);

        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var[] leaves = new Var[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                Tensor t = Tensor.of(arena, toFloat(inputs[i].values()), inputs[i].shape());
                leaves[i] = inputs[i].differentiate() ? g.leaf(t) : g.constant(t);
            }
            Var out = op.apply(g, leaves);
            float[] actual = out.value().toFloatArray();
            assertEquals(expected.length, actual.length, name + ": output size");
            compare(name + " forward", expected, actual, forwardTolerance);

            double[] r = new double[actual.length];
            for (int i = 0; i < r.length; i++) r[i] = random.nextDouble() * 2 - 1;
            if (!out.requiresGrad()) return;
            out.backward(Tensor.of(arena, toFloat(r), out.shape()));

            for (int i = 0; i < inputs.length; i++) {
                if (!inputs[i].differentiate()) continue;
                float[] grad = leaves[i].grad() == null ? new float[values[i].length] : leaves[i].grad().toFloatArray();
                int n = values[i].length;
                int[] picks = pick(random, n, 40);
                double[] numeric = new double[picks.length];
                double[] analytic = new double[picks.length];
                for (int p = 0; p < picks.length; p++) {
                    int j = picks[p];
                    double h = 1e-5 * Math.max(1, Math.abs(values[i][j]));
                    double keep = values[i][j];
                    values[i][j] = keep + h;
                    double plus = dot(reference.apply(values), r);
                    values[i][j] = keep - h;
                    double minus = dot(reference.apply(values), r);
                    values[i][j] = keep;
                    numeric[p] = (plus - minus) / (2 * h);
                    analytic[p] = grad[j];
                }
                compare(name + " gradient of input " + i + " (elements " + Arrays.toString(Arrays.copyOf(picks, Math.min(8, picks.length))) + "...)",
                        numeric, toFloat(analytic), gradientTolerance);
            }
        }
    }

    static void compare(String what, double[] expected, float[] actual, double tolerance) {
        double scale = 0;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        scale = Math.max(scale, 1e-12);
        List<String> bad = new ArrayList<>();
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]) / scale;
            worst = Math.max(worst, err);
            if (!(err <= tolerance) && bad.size() < 5) {
                bad.add(String.format(Locale.ROOT, "[%d] expected %.8g got %.8g", i, expected[i], actual[i]));
            }
        }
        if (!bad.isEmpty()) {
            fail(String.format(Locale.ROOT, "%s: error %.3g (relative to max |expected| %.3g) above %.1g: %s",
                    what, worst, scale, tolerance, String.join(", ", bad)));
        }
    }

    private static int[] pick(SplittableRandom random, int n, int max) {
        if (n <= max) {
            int[] all = new int[n];
            for (int i = 0; i < n; i++) all[i] = i;
            return all;
        }
        int[] picks = new int[max];
        for (int i = 0; i < max; i++) picks[i] = random.nextInt(n);
        return picks;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    /** Rounds the inputs to float first so reference and op see the same numbers. */
    static double[] roundToFloat(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return r;
    }

    static Tensor tensor(Arena arena, DType type, double[] values, int... shape) {
        return Tensor.of(arena, type, toFloat(values), shape);
    }
}
