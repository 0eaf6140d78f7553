package dev.retort.distill.train;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.distill.data.Batch;
import dev.retort.distill.loss.DenseTeacher;
import dev.retort.distill.loss.DistillationLoss;
import dev.retort.distill.loss.FeatureLoss;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.loss.LayerMap;
import dev.retort.distill.loss.TeacherSource;
import dev.retort.models.llama.LlamaModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Logit distillation, optionally with feature distillation:
 * <pre>
 *   loss = (1 − α)·CE(student) + α·T²·D(teacher_T ‖ student_T)  [+ w · Σ_i feature(student layer i, teacher layer m(i))]
 * </pre>
 * The teacher runs without gradients (a live model), or its top-k logits come from a cache. Which student
 * parameters train is the phase's business: all of them ({@code kd}) or LoRA adapters ({@code neo}).
 */
public final class KdObjective implements Objective {
    private final LlamaModel student;
    private final LlamaModel teacher;                              // null when teaching from a cache
    private final BiFunction<Batch, Integer, TeacherSource> cache;  // (batch, rows) -> source, when teacher == null
    private final KdConfig config;
    private final LayerMap featureLayers;                           // null: no feature KD
    private final double featureWeight;
    private final boolean cosineFeatures;
    private final Map<Integer, Parameter> projections;              // student layer -> [Ct × Cs] learned map, when widths differ

    /** Logit KD from a live teacher. */
    public static KdObjective live(LlamaModel student, LlamaModel teacher, KdConfig config) {
        return new KdObjective(student, teacher, null, config, null, 0, false, Map.of());
    }

    /**
     * @param teacher     the live teacher, or null to read it from {@code cache}
     * @param features    feature-KD pairs (live teacher only), or null
     * @param projections learned teacher-to-student width maps of the feature pairs' student layers, when widths differ
     */
    public KdObjective(LlamaModel student, LlamaModel teacher, BiFunction<Batch, Integer, TeacherSource> cache,
                       KdConfig config, LayerMap features, double featureWeight, boolean cosineFeatures,
                       Map<Integer, Parameter> projections) {
        if (teacher == null && cache == null) throw new IllegalArgumentException("distillation needs a teacher or a teacher cache");
        if (features != null && teacher == null) throw new IllegalArgumentException("feature distillation needs the live teacher, not a cache");
        this.student = student;
        this.teacher = teacher;
        this.cache = cache;
        this.config = config;
        this.featureLayers = features;
        this.featureWeight = featureWeight;
        this.cosineFeatures = cosineFeatures;
        this.projections = projections;
    }

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        int b = batch.batch(), t = batch.seq();
        List<Var> studentLayers = featureLayers == null ? null : new ArrayList<>();
        Var studentHidden = student.hidden(g, batch.inputs(), b, t, studentLayers);
        try (Graph teacherGraph = Graph.noGrad(g.pool())) {
            TeacherSource source;
            List<Var> teacherLayers = featureLayers == null ? null : new ArrayList<>();
            if (teacher != null) {
                Var teacherHidden = teacher.hidden(teacherGraph, batch.inputs(), b, t, teacherLayers);
                source = DenseTeacher.of(teacherHidden, teacher.lmHead(), config.topK());
            } else {
                source = cache.apply(batch, b * t);
            }
            DistillationLoss.Result r = DistillationLoss.linear(studentHidden, student.lmHead(), source, batch.targets(),
                    config, divisor, LlamaModel.LOSS_CHUNK_ROWS);
            Var loss = r.loss();
            if (featureLayers != null) {
                for (LayerMap.Pair pair : featureLayers.pairs()) {
                    // Layer outputs: index 0 is the embeddings, index i + 1 the output of layer i.
                    Var s = studentLayers.get(pair.student() + 1);
                    Var te = g.constant(copyOut(g, teacherLayers.get(pair.teacher() + 1)));
                    Parameter projection = projections == null ? null : projections.get(pair.student());
                    Var term = cosineFeatures ? FeatureLoss.cosine(s, te, projection) : FeatureLoss.mse(s, te, projection);
                    loss = Arithmetic.add(loss, Arithmetic.scale(term, (float) featureWeight));
                }
            }
            return new StepLoss(loss, r.ceSum(), r.kdSum(), r.countedTokens(), r.top1Agreement());
        }
    }

    /** The teacher's activation, copied into the student graph (the teacher graph closes before backward). */
    private static dev.retort.tensor.Tensor copyOut(Graph g, Var teacherValue) {
        dev.retort.tensor.Tensor copy = g.allocate(teacherValue.shape());
        teacherValue.value().copyInto(copy);
        return copy;
    }
}
