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
import dev.retort.models.llama.TokenPruning;
import dev.retort.autograd.ops.CrossEntropy;
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
        TokenPruning pruning = student.pruning();
        if (pruning != null && (featureLayers != null || teacher == null)) {
            throw new IllegalStateException("token pruning distils from a live teacher's logits only");
        }
        // With token pruning the student sees [B × S] places (the kept prompt tokens, then the rest); the unpruned
        // teacher's rows and the targets are read at the same original tokens.
        LlamaModel.Pruned pruned = pruning == null ? null : student.pruned(g, batch.inputs(),
                TokenPruning.prunableFromTargets(batch.targets(), b, t, CrossEntropy.IGNORE_INDEX), b, t, pruning.trainingStep(step, batch.rows()));
        Var studentHidden = pruned == null ? student.hidden(g, batch.inputs(), b, t, studentLayers) : pruned.hidden();
        int[] targets = pruned == null ? batch.targets() : pruned.layout().targets(batch.targets(), CrossEntropy.IGNORE_INDEX);
        try (Graph teacherGraph = Graph.noGrad(g.pool())) {
            TeacherSource source;
            List<Var> teacherLayers = featureLayers == null ? null : new ArrayList<>();
            if (teacher != null) {
                Var teacherHidden = teacher.hidden(teacherGraph, batch.inputs(), b, t, teacherLayers);   // [B × T × C]
                if (pruned != null) teacherHidden = teacherGraph.constant(pruned.layout().gatherRows(teacherGraph, teacherHidden.value()));   // [B × S × C]
                source = DenseTeacher.of(teacherHidden, teacher.lmHead(), config.topK());
            } else {
                source = cache.apply(batch, b * t);
            }
            DistillationLoss.Result r = DistillationLoss.linear(studentHidden, student.lmHead(), source, targets,
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
