package dev.retort.distill.train;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.distill.data.Batch;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.llama.TokenPruning;

/** Supervised fine-tuning: the student's next-token cross-entropy, no teacher (pruned when the student has token pruning). */
public record SftObjective(LlamaModel student) implements Objective {

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        TokenPruning pruning = student.pruning();
        // with token pruning the prompt is pruned before its layer; pruned tokens have no target (TokenPruning)
        Var loss = pruning == null ? student.loss(g, batch.inputs(), batch.targets(), batch.batch(), batch.seq(), divisor)
                : student.prunedLoss(g, batch.inputs(), batch.targets(), batch.batch(), batch.seq(), divisor, pruning.trainingStep(step, batch.rows()));
        return new StepLoss(loss, loss.item() * divisor, 0, batch.targetCount(), 0);
    }
}
