package dev.retort.distill.loss;

import dev.retort.tensor.Tensor;

/**
 * The teacher's side of a distillation loss for one batch of N flattened tokens, handed out a row block at a
 * time so that the loss never holds more than one chunk of teacher data. A live teacher ({@link DenseTeacher})
 * computes it on demand; a teacher cache reads it from disk.
 *
 * <p>A source is either dense ({@link #topK()} == 0: {@link #denseLogits} works) or top-k ({@link #topK()} ==
 * k: {@link #topKBlock} works); a dense source may offer both. The loss only reads the teacher during its
 * forward pass (the gradient is computed there), so the source need not outlive that call.
 */
public interface TeacherSource {

    /** N: the number of token rows in the batch. */
    int rows();

    /** V: the vocabulary size. */
    int vocab();

    /** 0 for a dense source; otherwise the k of its {@link #topKBlock top-k blocks}. */
    int topK();

    /**
     * Writes the raw (temperature 1) teacher logits of rows [row, row + n) into {@code out}, a contiguous F32
     * [n × V] tensor.
     */
    default void denseLogits(int row, int n, Tensor out) {
        throw new UnsupportedOperationException("this teacher source holds top-" + topK() + " blocks, not dense logits");
    }

    /**
     * The top-k block of rows [row, row + n) with its rest log-sum-exp at {@code temperature}. A cache made for
     * another temperature must refuse (its rest log-sum-exp is only valid for the temperature it was made for).
     */
    default TopKBlock topKBlock(int row, int n, double temperature) {
        throw new UnsupportedOperationException("this teacher source gives dense logits, not top-k blocks");
    }
}
