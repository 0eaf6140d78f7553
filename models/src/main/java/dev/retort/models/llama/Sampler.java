package dev.retort.models.llama;

import dev.retort.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits, in the order Hugging Face's generation applies its processors:
 * <ol>
 *   <li>repetition penalty (CTRL, Keskar et al. 2019): every token already in the sequence has its logit divided
 *       by the penalty when positive and multiplied by it when negative (1 = off);
 *   <li>greedy when the temperature is 0; otherwise softmax(logits / temperature) restricted to the {@code topK}
 *       most likely tokens (0 = all), then to the smallest set whose probability reaches {@code topP} (1 = all),
 *       then to the tokens at least {@code minP} times as likely as the most likely one (0 = all), and a draw.
 * </ol>
 * Seeded: the same seed and the same logits give the same tokens.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final float minP;
    private final float repetitionPenalty;
    private final SplittableRandom random;

    public Sampler(float temperature, int topK, float topP, long seed) {
        this(temperature, topK, topP, 0, 1, seed);
    }

    public Sampler(float temperature, int topK, float topP, float minP, float repetitionPenalty, long seed) {
        if (temperature < 0 || Float.isNaN(temperature) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP < 1)) throw new IllegalArgumentException("min-p must be in [0, 1), got " + minP);
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition penalty must be a finite number > 0 (1 = off), got " + repetitionPenalty);
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.minP = minP;
        this.repetitionPenalty = repetitionPenalty;
        this.random = new SplittableRandom(seed);
    }

    public static Sampler greedy() {
        return new Sampler(0, 0, 1, 0);
    }

    /** The next token id for logits [V], with no repetition penalty. */
    public int sample(Tensor logits) {
        return sample(logits, new int[0], 0);
    }

    /** The next token id for logits [V] after the sequence {@code context[0 .. length)} (prompt and tokens so far). */
    public int sample(Tensor logits, int[] context, int length) {
        float[] z = logits.toFloatArray();
        if (repetitionPenalty != 1) {
            boolean[] penalised = new boolean[z.length];
            for (int i = 0; i < length; i++) {
                int id = context[i];
                if (id < 0 || id >= z.length || penalised[id]) continue;
                penalised[id] = true;
                z[id] = z[id] > 0 ? z[id] / repetitionPenalty : z[id] * repetitionPenalty;
            }
        }
        int best = 0;
        for (int i = 1; i < z.length; i++) if (z[i] > z[best]) best = i;
        if (temperature == 0) return best;

        if (topK == 0 && topP == 1) return drawInIdOrder(z);

        // Candidates sorted by logit, descending (ties by id, so the order is deterministic): one primitive sort of
        // (order-preserving logit bits, id) keys.
        long[] keys = new long[z.length];
        for (int i = 0; i < z.length; i++) {
            int bits = Float.floatToIntBits(z[i]);
            int signed = bits < 0 ? bits ^ 0x7fffffff : bits;                 // int order = float order
            keys[i] = ((long) ~signed << 32) | i;                              // descending logit, then ascending id
        }
        Arrays.sort(keys);
        int[] order = new int[z.length];
        for (int i = 0; i < z.length; i++) order[i] = (int) keys[i];
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
        // min-p: and only tokens with p >= minP * p_max (p[0] is the largest, exp(0) = 1)
        if (minP > 0) {
            int aboveFloor = 1;
            while (aboveFloor < nucleus && p[aboveFloor] >= minP * p[0]) aboveFloor++;
            nucleus = aboveFloor;
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

    /**
     * A draw from softmax(z / T) over every token (no top-k or top-p: nothing to sort), cut to p ≥ minP·p_max when
     * min-p is set, walking the ids in order.
     */
    private int drawInIdOrder(float[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : z) max = Math.max(max, v);
        double[] p = new double[z.length];
        double floor = minP > 0 ? minP : 0, mass = 0;   // p_max is exp(0) = 1 before normalising
        for (int i = 0; i < z.length; i++) {
            double e = Math.exp((z[i] - max) / temperature);
            p[i] = e >= floor ? e : 0;
            mass += p[i];
        }
        double u = random.nextDouble() * mass;
        int last = 0;
        for (int i = 0; i < z.length; i++) {
            if (p[i] == 0) continue;
            last = i;
            u -= p[i];
            if (u < 0) return i;
        }
        return last;
    }
}
