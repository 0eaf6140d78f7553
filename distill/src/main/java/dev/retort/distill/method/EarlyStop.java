package dev.retort.distill.method;

import dev.retort.autograd.BufferPool;
import java.util.function.ToDoubleFunction;

/**
 * When a phase may end before its last step: every {@code every} steps the trainer measures the phase's own loss
 * on held-out micro-batches, and once {@code patience} measurements in a row bring no new best the phase ends
 * there and the next one begins (its remaining steps are skipped, so later phases keep their step numbers). The
 * best value and the count of measurements without one are checkpointed, so a resumed run stops where the
 * uninterrupted one did.
 *
 * @param patience    measurements without a new best that end the phase (at least 1)
 * @param every       steps between measurements (at least 1)
 * @param heldOutLoss the phase's objective on its held-out micro-batches, without gradients (a pure function of
 *                    the weights: the same batches every time)
 */
public record EarlyStop(int patience, int every, ToDoubleFunction<BufferPool> heldOutLoss) {
    public EarlyStop {
        if (patience < 1 || every < 1) throw new IllegalArgumentException("early stop: patience and interval must be at least 1");
    }
}
