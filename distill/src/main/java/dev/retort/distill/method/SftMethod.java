package dev.retort.distill.method;

import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.train.SftObjective;

/**
 * {@code sft}: supervised fine-tuning, the student's cross-entropy on the data, no teacher in the loss. Every
 * student weight trains, or adapters of a frozen student when --lora-rank or --adapter-* is given.
 */
public final class SftMethod implements Method {
    @Override
    public String name() {
        return "sft";
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return !options.lora().adapted();
    }

    @Override
    public Plan plan(Workspace run) {
        return run.studentPhase(name(), new SftObjective(run.student()), run.train());
    }
}
