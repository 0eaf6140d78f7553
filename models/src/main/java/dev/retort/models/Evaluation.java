package dev.retort.models;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.models.llama.LlamaModel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Next-token cross-entropy of a model on a token sequence.
 *
 * <p>The sequence is cut into consecutive windows ({@link #windows}), each scored on its own
 * ({@link #windowLoss}); the mean is the windows' float sums added in double, in window order. Anyone who scores
 * the windows elsewhere (the Spark job) and adds them in that order gets the very same bits.
 *
 * @param tokens       the number of predicted tokens (one less than the sequence, per window)
 * @param crossEntropy the mean negative log-likelihood per predicted token, in nats
 */
public record Evaluation(long tokens, double crossEntropy) {

    /** exp(cross-entropy). */
    public double perplexity() {
        return Math.exp(crossEntropy);
    }

    /** {@code tokens=N ce=X ppl=Y}: {@code retort eval}'s last line. */
    public String line() {
        return String.format(Locale.ROOT, "tokens=%d ce=%.4f ppl=%.3f", tokens, crossEntropy, perplexity());
    }

    /**
     * {@code tokens} cut into consecutive windows of {@code window} predictions: window i is tokens
     * [i·w, i·w + n], n + 1 tokens of which the first n predict the last n, so every token but the first is predicted
     * once (with context from its own window only).
     */
    public static List<int[]> windows(int[] tokens, int window) {
        if (window < 1) throw new IllegalArgumentException("window must be at least 1, got " + window);
        List<int[]> windows = new ArrayList<>();
        for (int start = 0; start + 1 < tokens.length; start += window) {
            int n = Math.min(window, tokens.length - 1 - start);
            windows.add(Arrays.copyOfRange(tokens, start, start + n + 1));
        }
        return windows;
    }

    /** The evaluation of {@code windows} from their summed losses, added in double in window order. */
    public static Evaluation of(List<int[]> windows, float[] windowLosses) {
        if (windowLosses.length != windows.size()) {
            throw new IllegalArgumentException(windowLosses.length + " losses for " + windows.size() + " windows");
        }
        double totalLoss = 0;
        long predicted = 0;
        for (int i = 0; i < windowLosses.length; i++) {
            totalLoss += windowLosses[i];
            predicted += windows.get(i).length - 1;
        }
        return new Evaluation(predicted, totalLoss / predicted);
    }

    /**
     * The summed next-token loss (nats) of one window [n + 1] of {@link #windows}: tokens [0, n) predict [1, n]. A
     * forward pass without gradients, its buffers from {@code pool}.
     */
    public static float windowLoss(LlamaModel model, BufferPool pool, int[] window) {
        int n = window.length - 1;
        try (Graph g = Graph.noGrad(pool)) {
            return model.loss(g, Arrays.copyOf(window, n), Arrays.copyOfRange(window, 1, n + 1), 1, n, 1.0).item();   // divisor 1: the sum
        }
    }
}
