package dev.retort.distill.method;

import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.SftObjective;
import java.io.IOException;

/**
 * {@code seqkd}: sequence-level KD (Kim and Rush 2016). The student learns from text its teacher wrote
 * ({@code retort generate-data}): cross-entropy on the response tokens of {@code {"prompt", "response"}} lines,
 * one example per row with its prompt masked; with --alpha above 0, token-level KD from the live teacher on the
 * same tokens as well. Every student weight trains, or adapters with --lora-rank or --adapter-*. Its rows are those of
 * {@code gkd}, so {@code gkd --lambda 0} with the same loss is the same run.
 */
public final class SeqKdMethod implements Method {
    @Override
    public String name() {
        return "seqkd";
    }

    /** Cross-entropy on the teacher's text alone unless --alpha asks for token-level KD as well. */
    @Override
    public KdConfig kdDefaults() {
        return KdConfig.DEFAULTS.withAlpha(0);
    }

    @Override
    public void check(DistillOptions options) {
        if (options.models().teacherCache() != null) {
            throw new IllegalArgumentException("--teacher-cache: --method seqkd trains on one example per row, which a cache of "
                    + "packed rows does not index; use the live --teacher");
        }
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return !options.lora().adapted();
    }

    @Override
    public Plan plan(Workspace run) throws IOException {
        DistillOptions o = run.options();
        Objective objective = o.kd().alpha() == 0 ? new SftObjective(run.student()) : KdObjective.live(run.student(), run.teacher(), o.kd());
        return run.studentPhase(name(), objective, run.examplesForTraining());
    }
}
