package dev.retort.distill.train;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.distill.data.Batch;
import dev.retort.models.llama.LlamaModel;

/** Supervised fine-tuning: the student's next-token cross-entropy, no teacher. */
public record SftObjective(LlamaModel student) implements Objective {

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        Var loss = student.loss(g, batch.inputs(), batch.targets(), batch.batch(), batch.seq(), divisor);
        return new StepLoss(loss, loss.item() * divisor, 0, batch.targetCount(), 0);
    }
}
