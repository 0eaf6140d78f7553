package dev.retort.distill.train;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.models.llama.LlamaModel;
import java.util.List;

/** Supervised fine-tuning: the student's next-token cross-entropy, no teacher. */
public final class SftObjective implements Objective {
    private final LlamaModel student;

    public SftObjective(LlamaModel student) {
        this.student = student;
    }

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        Var loss = student.loss(g, batch.inputs(), batch.targets(), batch.batch(), batch.seq(), divisor);
        return new StepLoss(loss, loss.item() * divisor, 0, batch.targetCount(), 0);
    }

    @Override
    public List<ParamGroup> parameterGroups(double weightDecay) {
        return List.of(ParamGroup.of(trainable(), weightDecay));
    }

    @Override
    public List<Parameter> trainable() {
        return student.trainableParameters();
    }

    @Override
    public String name() {
        return "sft";
    }
}
