package dev.retort.distill.data;

/**
 * One training example after tokenization. {@code target[i]} says whether token i is something the model is
 * trained to predict (false for prompt tokens of prompt/response data, and for the leading BOS).
 */
public record Example(int[] tokens, boolean[] target) {
    public Example {
        if (tokens.length != target.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + target.length + " target flags");
        }
    }

    /** Every token but the first is a target. */
    public static Example plain(int[] tokens) {
        boolean[] target = new boolean[tokens.length];
        for (int i = 1; i < tokens.length; i++) target[i] = true;
        return new Example(tokens, target);
    }
}
