package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.cache.TeacherCaches;
import dev.retort.distill.loss.LayerMap;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.train.KdObjective;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Logit distillation, (1 − α)·CE + α·T²·D(teacher ‖ student) (see {@link KdObjective}), optionally with feature
 * KD and from a teacher cache, in two flavours:
 * <ul>
 *   <li>{@code kd}: every student weight trains;
 *   <li>{@code neo} (LLM-Neo, Yang et al. 2024): LoRA adapters of a frozen student train (rank 16 unless
 *       --lora-rank says otherwise) — KD's knowledge with LoRA's memory; or, with --adapter-type bottleneck,
 *       Houlsby bottleneck adapters (width 16 unless --adapter-size says otherwise).
 * </ul>
 */
public final class KdMethod implements Method {
    private final boolean lora;

    private KdMethod(boolean lora) {
        this.lora = lora;
    }

    public static KdMethod kd() {
        return new KdMethod(false);
    }

    public static KdMethod neo() {
        return new KdMethod(true);
    }

    @Override
    public String name() {
        return lora ? "neo" : "kd";
    }

    @Override
    public void check(DistillOptions options) {
        if (!lora && options.lora().adapted()) {
            throw new IllegalArgumentException(options.lora().adaptedFlag() + " goes with --method neo (or sft); kd trains every student parameter");
        }
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return !lora;
    }

    @Override
    public Plan plan(Workspace run) {
        DistillOptions o = run.options();
        StudentAdapters adapters = lora ? run.attachStudentAdapters() : null;
        List<Parameter> trainable = lora ? adapters.parameters() : run.student().trainableParameters();
        List<ParamGroup> groups = new ArrayList<>(lora ? run.groups(adapters) : run.groups(trainable));

        FeatureOptions f = o.features();
        LayerMap features = f.layers() == null ? null
                : f.layers().validate(run.student().config().numHiddenLayers(), run.teacher().config().numHiddenLayers());
        Map<Integer, Parameter> projections = projections(features, run.student().config(), run.teacher().config(),
                run.arena(), o.training().seed());
        if (!projections.isEmpty()) {
            List<Parameter> maps = new ArrayList<>(projections.values());
            trainable = Workspace.concat(trainable, maps);
            groups.addAll(run.groups(maps));
        }
        boolean cached = o.models().teacherCache() != null;
        KdObjective objective = new KdObjective(run.student(), cached ? null : run.teacher(),
                cached ? TeacherCaches.source(o.models().teacherCache(), run.train(), o.data().data(), run.tokenizer(), o.kd()) : null,
                o.kd(), features, f.weight(), f.cosine(), projections);
        return Plan.of(run.phase(name(), objective, trainable, groups, run.train()), adapters);
    }

    /** Learned maps [Ct × Cs] from teacher width to student width for feature pairs whose widths differ. */
    public static Map<Integer, Parameter> projections(LayerMap features, LlamaConfig student, LlamaConfig teacher, Arena arena, long seed) {
        Map<Integer, Parameter> out = new LinkedHashMap<>();
        if (features == null || student.hiddenSize() == teacher.hiddenSize()) return out;
        SplittableRandom random = new SplittableRandom(seed ^ 0x5eed);
        int cs = student.hiddenSize(), ct = teacher.hiddenSize();
        for (LayerMap.Pair pair : features.pairs()) {
            int layer = pair.student();
            if (out.containsKey(layer)) continue;
            float[] w = new float[ct * cs];
            double bound = 1 / Math.sqrt(ct);
            for (int i = 0; i < w.length; i++) w[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
            out.put(layer, new Parameter("feature_projection." + layer + ".weight", Tensor.of(arena, w, ct, cs), true));
        }
        return out;
    }
}
