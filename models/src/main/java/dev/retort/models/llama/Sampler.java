package dev.retort.models.llama;

import dev.retort.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits: greedy when the temperature is 0, otherwise a draw from
 * softmax(logits / temperature) restricted to the {@code topK} most likely tokens (0 = all) and then to the
 * smallest set whose probability reaches {@code topP} (1 = all). Seeded: the same seed gives the same text.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final SplittableRandom random;

    public Sampler(float temperature, int topK, float topP, long seed) {
        if (temperature < 0 || Float.isNaN(temperature)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() {
        return new Sampler(0, 0, 1, 0);
    }

    /** The next token id for logits [V]. */
    public int sample(Tensor logits) {
        float[] z = logits.toFloatArray();
        int best = 0;
        for (int i = 1; i < z.length; i++) if (z[i] > z[best]) best = i;
        if (temperature == 0) return best;

        // Candidates sorted by logit, descending (ties by id, so the order is deterministic).
        Integer[] order = new Integer[z.length];
        for (int i = 0; i < order.length; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> z[a] != z[b] ? Float.compare(z[b], z[a]) : Integer.compare(a, b));
        int kept = topK > 0 ? Math.min(topK, z.length) : z.length;

        double[] p = new double[kept];
        double max = z[order[0]], sum = 0;
        for (int i = 0; i < kept; i++) sum += p[i] = Math.exp((z[order[i]] - max) / temperature);
        // top-p: keep the shortest prefix whose probability mass reaches topP
        double cumulative = 0;
        int nucleus = kept;
        for (int i = 0; i < kept; i++) {
            cumulative += p[i] / sum;
            if (cumulative >= topP) {
                nucleus = i + 1;
                break;
            }
        }
        double mass = 0;
        for (int i = 0; i < nucleus; i++) mass += p[i];
        double u = random.nextDouble() * mass;
        for (int i = 0; i < nucleus; i++) {
            u -= p[i];
            if (u < 0) return order[i];
        }
        return order[nucleus - 1];
    }
}
