package dev.retort.distill.method;

import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.options.DistillOptions;
import java.io.IOException;

/**
 * A distillation method: it turns the run's typed options and loaded models into a {@link Plan} of phases. The
 * rest of a run — loading, the training loop, checkpoints, evaluation, outputs, the report — is the same for
 * every method ({@link dev.retort.distill.DistillJob}). A new method is one class here (or a small package
 * beside this one) and one line in {@link Methods}.
 */
public interface Method {

    /** The name {@code --method} takes. */
    String name();

    /**
     * Refuses option combinations the method cannot run, before anything is loaded: one line naming the flag,
     * the value and what was expected.
     */
    default void check(DistillOptions options) {}

    /** The distillation loss settings where --kd-loss, --temperature, --alpha, --beta and --top-k are not given. */
    default KdConfig kdDefaults() {
        return KdConfig.DEFAULTS;
    }

    /** Whether the run must load the student's weights as trainable F32 copies (false: frozen, in place). */
    boolean trainsStudentWeights(DistillOptions options);

    /** Whether the run must load the teacher's weights as trainable F32 copies (a full meta-update). */
    default boolean trainsTeacherWeights(DistillOptions options) {
        return false;
    }

    /** The phases of this run over the loaded models and data. */
    Plan plan(Workspace run) throws IOException;
}
