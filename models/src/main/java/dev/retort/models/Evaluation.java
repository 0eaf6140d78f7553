package dev.retort.models;

/**
 * Next-token cross-entropy of a model on a token sequence.
 *
 * @param tokens       the number of predicted tokens (one less than the sequence, per window)
 * @param crossEntropy the mean negative log-likelihood per predicted token, in nats
 */
public record Evaluation(long tokens, double crossEntropy) {

    /** exp(cross-entropy). */
    public double perplexity() {
        return Math.exp(crossEntropy);
    }
}
