package dev.retort.distill.loss;

/**
 * The distillation objective of one training run.
 *
 * <p>Per counted token: loss = (1 − alpha)·CE + alpha·T²·D(p_T ‖ q_T), where CE is the student's next-token
 * cross-entropy at temperature 1 and D the {@link Divergence} between teacher p and student q, both softmaxes of
 * logits divided by T. The T² keeps the KD gradient's size independent of T (Hinton et al.): the logit gradient
 * of D carries a factor 1/T and the soft targets' differences shrink roughly like 1/T.
 *
 * @param divergence  which divergence D is
 * @param temperature T &gt; 0
 * @param alpha       weight of the KD term in [0, 1] (0 = plain cross-entropy, 1 = pure distillation)
 * @param beta        the JSD mixture weight β in (0, 1), or the skew α in [0, 1) of SKL/SRKL; unused otherwise
 * @param topK        0 = every token is its own bucket; k &gt; 0 = the teacher's top-k tokens plus one bucket
 *                    holding the rest of the vocabulary (see {@link DistillationLoss})
 */
public record KdConfig(Divergence divergence, double temperature, double alpha, double beta, int topK) {

    /** The command line's defaults: forward KL at T = 2, α = 0.5, β = 0.5, the full vocabulary. */
    public static final KdConfig DEFAULTS = new KdConfig(Divergence.FKL, 2.0, 0.5, 0.5, 0);

    public KdConfig {
        if (divergence == null) throw new IllegalArgumentException("KD config: divergence is missing");
        if (!(temperature > 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("KD config: temperature " + temperature + " must be a finite number > 0");
        }
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("KD config: alpha " + alpha + " must be in [0, 1] (the weight of KD against cross-entropy)");
        }
        if (!divergence.acceptsBeta(beta)) {
            throw new IllegalArgumentException("KD config: beta " + beta + " is not valid for " + divergence
                    + switch (divergence) {
                        case JSD -> " (expected 0 < beta < 1)";
                        case GJSD -> " (expected 0 <= beta <= 1)";
                        default -> " (expected 0 <= beta < 1)";
                    });
        }
        if (topK < 0) throw new IllegalArgumentException("KD config: topK " + topK + " must be >= 0 (0 = full vocabulary)");
    }

    /**
     * Common defaults for a divergence: T = 1, alpha = 0.5, full vocabulary, and beta = 0.5 for JSD or 0.1 for
     * the skew divergences (DistiLLM's choice).
     */
    public static KdConfig defaults(Divergence divergence) {
        double beta = switch (divergence) {
            case JSD, GJSD -> 0.5;
            case SKL, SRKL -> 0.1;
            default -> 0;
        };
        return new KdConfig(divergence, 1, 0.5, beta, 0);
    }

    public KdConfig withTemperature(double t) {
        return new KdConfig(divergence, t, alpha, beta, topK);
    }

    public KdConfig withAlpha(double a) {
        return new KdConfig(divergence, temperature, a, beta, topK);
    }

    public KdConfig withBeta(double b) {
        return new KdConfig(divergence, temperature, alpha, b, topK);
    }

    public KdConfig withTopK(int k) {
        return new KdConfig(divergence, temperature, alpha, beta, k);
    }
}
