package dev.retort.distill.options;

import java.util.Locale;

/**
 * On-policy distillation ({@code --method gkd}, Agarwal et al. 2024, as TRL's GKDTrainer runs it): with
 * probability λ per micro-batch the student writes the responses it is trained on.
 *
 * @param lambda         probability that a micro-batch is sampled from the student (0 = off-policy, 1 = fully on-policy)
 * @param genTemperature the student's (or, with seqKd, the teacher's) sampling temperature; 0 = greedy
 * @param maxNewTokens   most tokens a response may have (also bounded by --seq-len after the prompt)
 * @param seqKd          off-policy micro-batches use responses the teacher writes, not the dataset's (TRL's seq_kd)
 */
public record GkdOptions(double lambda, double genTemperature, int maxNewTokens, boolean seqKd) {
    /** TRL's GKDConfig defaults: λ = 0.5, temperature 0.9, 128 new tokens, no seq_kd. */
    public static final GkdOptions DEFAULTS = new GkdOptions(0.5, 0.9, 128, false);

    public GkdOptions {
        if (!(lambda >= 0 && lambda <= 1)) throw new IllegalArgumentException("--lambda must be in [0, 1], got " + lambda);
        if (!(genTemperature >= 0) || Double.isInfinite(genTemperature)) {
            throw new IllegalArgumentException("--gen-temperature must be a finite number >= 0, got " + genTemperature);
        }
        if (maxNewTokens < 1) throw new IllegalArgumentException("--max-new-tokens must be at least 1, got " + maxNewTokens);
    }

    /** For the run's fingerprint. */
    public String describe() {
        return String.format(Locale.ROOT, "lambda=%s gen-temperature=%s max-new-tokens=%d seq-kd=%s", lambda, genTemperature, maxNewTokens, seqKd);
    }
}
