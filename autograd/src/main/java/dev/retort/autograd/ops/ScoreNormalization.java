package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.Tensor;
import java.util.Arrays;

/**
 * Per-row min-max normalisation of the scores a {@link PerturbedTopK} ranks (Cordonnier et al. 2021's
 * {@code zerooneeps} option): each row's competing scores are mapped onto [0, 1], so the noise scale σ is a
 * fraction of their range whatever scale the scorer has drifted to. It is strictly increasing within a row, so the
 * hard top-k, and inference, choose the same tokens with or without it.
 *
 * <p>For row b with candidates s[0 .. m) (m = candidates[b]; the rest pass through unchanged, as they never compete),
 * a = the first index of the minimum, z = the first of the maximum, R = s[z] − s[a] + ε:
 * <pre>
 *   y[t]   = (s[t] − s[a]) / R                                                   t &lt; m
 *   ds[t] += g[t] / R                                                            t &lt; m
 *   ds[a] += Σ_t g[t]·(y[t] − 1) / R        (∂y[t]/∂s[a] = (y[t] − 1)/R, t ≠ a; y[a] ≡ 0)
 *   ds[z] −= Σ_t g[t]·y[t] / R              (∂y[t]/∂s[z] = −y[t]/R)
 * </pre>
 * sums in double. The argmin and argmax get their derivative through the sums (a one-sided derivative where values
 * tie, as any max).
 */
public final class ScoreNormalization {
    private ScoreNormalization() {}

    /** ε of the range, as in the reference code: a row of equal scores maps to zeros instead of dividing by 0. */
    public static final double EPS = 1e-5;

    /** scores [B × N] → [B × N], row b's first candidates[b] entries min-max normalised. */
    public static Var minMax(Var scores, int[] candidates) {
        Graph g = scores.graph();
        scores.requireContiguousF32("score normalization input");
        if (scores.value().rank() != 2) throw new IllegalArgumentException("scores must be [B × N], got " + Arrays.toString(scores.value().shape()));
        int batch = scores.dim(0), n = scores.dim(1);
        if (candidates.length != batch) throw new IllegalArgumentException(candidates.length + " candidate counts for " + batch + " rows");
        Tensor s = scores.value(), y = g.allocate(batch, n);
        int[] lo = new int[batch], hi = new int[batch];
        double[] range = new double[batch];
        for (int b = 0; b < batch; b++) {
            int m = candidates[b];
            if (m < 0 || m > n) throw new IllegalArgumentException("row " + b + ": " + m + " candidates of " + n);
            long row = (long) b * n;
            for (int t = 0; t < m; t++) {
                if (s.getFlat(row + t) < s.getFlat(row + lo[b])) lo[b] = t;
                if (s.getFlat(row + t) > s.getFlat(row + hi[b])) hi[b] = t;
            }
            double min = m == 0 ? 0 : s.getFlat(row + lo[b]);
            range[b] = (m == 0 ? 0 : s.getFlat(row + hi[b]) - min) + EPS;
            for (int t = 0; t < m; t++) y.setFlat(row + t, (float) ((s.getFlat(row + t) - min) / range[b]));
            for (int t = m; t < n; t++) y.setFlat(row + t, s.getFlat(row + t));
        }
        return Var.result(g, y, true, dy -> {
            Tensor ds = scores.gradForAccumulation();
            for (int b = 0; b < batch; b++) {
                int m = candidates[b];
                long row = (long) b * n;
                double toMin = 0, toMax = 0;
                for (int t = 0; t < m; t++) {
                    double gt = dy.getFlat(row + t), yt = y.getFlat(row + t);
                    toMin += gt * (yt - 1);
                    toMax += gt * yt;
                }
                // summed in double before one rounding: at a narrow range the terms are large and cancel (y[a] ≡ 0)
                for (int t = 0; t < m; t++) {
                    double d = dy.getFlat(row + t) + (t == lo[b] ? toMin : 0) - (t == hi[b] ? toMax : 0);
                    ds.setFlat(row + t, (float) (ds.getFlat(row + t) + d / range[b]));
                }
                for (int t = m; t < n; t++) ds.setFlat(row + t, ds.getFlat(row + t) + dy.getFlat(row + t));
            }
        }, scores);
    }
}
