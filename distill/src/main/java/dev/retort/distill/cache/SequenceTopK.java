package dev.retort.distill.cache;

/**
 * One sequence's teacher top-k data, as stored in the cache.
 *
 * @param k the logits kept per token
 * @param ids [T × k] per token, the ids of its k largest logits by descending logit, ties by ascending id
 * @param logits [T × k] those raw logits (temperature 1)
 * @param restLse [T] per token, log Σ_{j ∉ top-k} exp(z_j / T) at the cache's temperature; -inf when k = V
 */
public record SequenceTopK(int k, int[] ids, float[] logits, float[] restLse) {

    /** T, the sequence's length. */
    public int length() {
        return restLse.length;
    }
}
