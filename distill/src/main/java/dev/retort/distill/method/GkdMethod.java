package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.train.KdObjective;
import dev.retort.models.Sampling;
import java.io.IOException;
import java.util.List;

/**
 * {@code gkd}: generalised knowledge distillation, on-policy (Agarwal et al. 2024; TRL's GKDTrainer). Each
 * micro-batch takes prompts from {@code {"prompt", "response"}} data; with probability λ the student answers them
 * itself ({@link GeneratedBatches}), otherwise the dataset's responses are used (or, with --seq-kd, the
 * teacher's). The teacher scores prompt + response without gradients and the loss is the divergence on the
 * response tokens only: by default the generalised JSD(β) ({@link Divergence#GJSD}: β = 0 forward KL, β = 1
 * reverse KL) at T = 1, with no cross-entropy term (α = 1). λ = 0 is supervised KD on the dataset's responses;
 * λ = 1 trains only on the student's own samples, so it learns to recover from its own mistakes. With
 * --lora-rank (or --adapter-size, or --adapter-type bottleneck) the student is a frozen base with adapters, which
 * it samples through (LoRA without dropout).
 */
public final class GkdMethod implements Method {
    @Override
    public String name() {
        return "gkd";
    }

    /** GKD's loss: the generalised JSD with β = 0.5 at T = 1, all of it (no cross-entropy term). */
    @Override
    public KdConfig kdDefaults() {
        return new KdConfig(Divergence.GJSD, 1, 1, 0.5, 0);
    }

    @Override
    public void check(DistillOptions options) {
        if (options.models().teacherCache() != null) {
            throw new IllegalArgumentException("--teacher-cache cannot score the student's own samples: --method gkd needs the live --teacher");
        }
        if (options.features().layers() != null) {
            throw new IllegalArgumentException("--feature-layers: --method gkd distils logits only");
        }
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return !options.lora().adapted();
    }

    @Override
    public Plan plan(Workspace run) throws IOException {
        DistillOptions o = run.options();
        GkdOptions g = o.gkd();
        PackedData rows = run.examplesForTraining();
        BatchSource dataset = BatchSource.of(rows, o.training().batchSize(), o.training().seed());
        Sampling sampling = new Sampling(g.maxNewTokens(), (float) g.genTemperature(), 0, 1, o.training().seed());
        GeneratedBatches batches = new GeneratedBatches(dataset, rows, run.student(), g.seqKd() ? run.teacher() : null,
                run.tokenizer().eosId(), g.lambda(), sampling, run.padToken());
        // every student weight, or adapters of a frozen student with --lora-rank or --adapter-* (it samples through them)
        StudentAdapters adapters = o.lora().adapted() ? run.attachStudentAdapters() : null;
        List<Parameter> trainable = adapters == null ? run.student().trainableParameters() : adapters.parameters();
        List<ParamGroup> groups = adapters == null ? run.groups(trainable) : run.groups(adapters);
        return Plan.of(Phase.standard(name(), KdObjective.live(run.student(), run.teacher(), o.kd()), trainable, groups,
                o.training(), batches), adapters);
    }
}
