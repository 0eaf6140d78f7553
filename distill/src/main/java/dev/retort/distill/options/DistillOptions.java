package dev.retort.distill.options;

import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.train.TrainingConfig;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every setting of a {@code retort distill} run, as typed groups: each group is one record with its defaults and
 * its validation, shared by the commands that take it (distill, cache-teacher, demo, bench train) and by
 * {@code --config} files.
 *
 * @param method   sft, kd, neo, meta, seqkd, gkd or progressive ({@link dev.retort.distill.method.Methods})
 * @param models   teacher (or its cache) and student
 * @param data     training and held-out text
 * @param training steps, batches, schedule, optimizer, seed, evaluation and checkpoints
 * @param lora     the student's adapters (neo, or sft with a rank)
 * @param kd       the distillation loss (kd, neo, meta)
 * @param features feature KD (kd, neo)
 * @param meta     the teacher's meta-update (meta)
 * @param gkd      on-policy sampling (gkd; the teacher's sampling in progressive's generation phase)
 * @param prune    token pruning inside the student (seqkd)
 * @param output   the output directory, resume, progress
 * @param progressive the phases of progressive distillation (progressive)
 */
public record DistillOptions(String method, ModelOptions models, DataOptions data, TrainingConfig training,
                             LoraOptions lora, KdConfig kd, FeatureOptions features, MetaOptions meta,
                             GkdOptions gkd, PruneOptions prune, OutputOptions output, ProgressiveOptions progressive) {

    /** Without token pruning and progressive's phases (callers that build options in code for other methods). */
    public DistillOptions(String method, ModelOptions models, DataOptions data, TrainingConfig training, LoraOptions lora,
                          KdConfig kd, FeatureOptions features, MetaOptions meta, GkdOptions gkd, OutputOptions output) {
        this(method, models, data, training, lora, kd, features, meta, gkd, PruneOptions.DEFAULTS, output, ProgressiveOptions.DEFAULTS);
    }

    /** With token pruning, without progressive's phases. */
    public DistillOptions(String method, ModelOptions models, DataOptions data, TrainingConfig training, LoraOptions lora,
                          KdConfig kd, FeatureOptions features, MetaOptions meta, GkdOptions gkd, PruneOptions prune, OutputOptions output) {
        this(method, models, data, training, lora, kd, features, meta, gkd, prune, output, ProgressiveOptions.DEFAULTS);
    }

    /** With progressive's phases, without token pruning. */
    public DistillOptions(String method, ModelOptions models, DataOptions data, TrainingConfig training, LoraOptions lora,
                          KdConfig kd, FeatureOptions features, MetaOptions meta, GkdOptions gkd, OutputOptions output,
                          ProgressiveOptions progressive) {
        this(method, models, data, training, lora, kd, features, meta, gkd, PruneOptions.DEFAULTS, output, progressive);
    }

    /** Every setting, for the report. */
    public Map<String, String> settings() {
        Map<String, String> m = fixedSettings();
        m.put("training", training.describe());
        return m;
    }

    /**
     * The settings a resumed run must keep (its checkpoint's fingerprint), in a stable order; what it may change
     * is {@link TrainingConfig#describeAdjustable}.
     */
    public Map<String, String> fixedSettings() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("method", method);
        m.put("teacher", String.valueOf(models.teacher()));
        m.put("student", models.describeStudent());
        m.put("data", String.valueOf(data.data()));
        m.put("held-out", data.evalData() != null ? data.evalData().toString() : Double.toString(data.heldOut()));
        m.put("seq-len", Integer.toString(data.seqLen()));
        m.put("kd", kd.divergence().cliName() + " T=" + kd.temperature() + " alpha=" + kd.alpha() + " beta=" + kd.beta()
                + " top-k=" + kd.topK());
        m.put("teacher-cache", String.valueOf(models.teacherCache()));
        m.put("lora", lora.describe("neo".equals(method) ? LoraOptions.NEO_RANK : null));
        m.put("feature-layers", features.describe());
        m.put("training", training.describeFixed());
        if ("meta".equals(method)) m.put("meta", meta.describe());
        if ("gkd".equals(method)) m.put("gkd", gkd.describe());
        if ("progressive".equals(method)) {
            m.put("progressive", progressive.describe());
            m.put("generation", gkd.describe());
        }
        if (prune.enabled()) m.put("prune", prune.describe());
        return m;
    }
}
