package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.train.SftObjective;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.LoraModel;
import java.util.List;

/**
 * {@code sft}: supervised fine-tuning, the student's cross-entropy on the data, no teacher in the loss. Every
 * student weight trains, or LoRA adapters of a frozen student when --lora-rank is given.
 */
public final class SftMethod implements Method {
    @Override
    public String name() {
        return "sft";
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return options.lora().rank() == null;
    }

    @Override
    public Plan plan(Workspace run) {
        LlamaModel student = run.student();
        if (run.options().lora().rank() == null) {
            List<Parameter> weights = student.trainableParameters();
            return Plan.of(run.phase(name(), new SftObjective(student), weights, run.groups(weights), run.train()), null);
        }
        LoraModel adapters = run.attachStudentLora(LoraOptions.NEO_RANK);   // --lora-rank is given here, so not used
        return Plan.of(run.phase(name(), new SftObjective(student), adapters.parameters(), run.groups(adapters), run.train()), adapters);
    }
}
