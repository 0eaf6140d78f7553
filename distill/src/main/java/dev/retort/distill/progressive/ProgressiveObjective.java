package dev.retort.distill.progressive;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.distill.data.Batch;
import dev.retort.distill.loss.DenseTeacher;
import dev.retort.distill.loss.FeatureLoss;
import dev.retort.distill.loss.LayerMap;
import dev.retort.distill.loss.LogitLensLoss;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.StepLoss;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The loss of one progressive phase; no label is read in any of them.
 * <pre>
 *   representations:  w_lens/|pairs| · Σ_(i, m(i)) CE_lens(teacher layer m(i) → student layer i)
 *                     [+ w_feat · Σ feature(student layer i, teacher layer m(i))]        (--feature-layers)
 *   outputs:          CE(teacher_T ‖ student_T) on the final layer: token-level KD, forward KL + the teacher's entropy
 *   generation:       CE of the student on the tokens the teacher sampled: sequence-level KD
 * </pre>
 * Lens and output terms are {@link LogitLensLoss} (T²-scaled, normalised by the accumulated batch's counted
 * positions); the teacher runs without gradients. The representations phase (through its deepest lens pair) and
 * the outputs phase reward the prompt templates their rows used ({@link PromptTemplates#reward}: teacher confidence
 * × student KL), on training micro-batches only; generation computes no teacher distribution and only draws. Layer outputs: index 0 is the embeddings, i + 1 the output of
 * layer i, each read through its model's final norm and head.
 */
final class ProgressiveObjective implements Objective {
    enum Kind { REPRESENTATIONS, OUTPUTS, GENERATION }

    private final Kind kind;
    private final LlamaModel student, teacher;
    private final double temperature;
    private final LayerMap lens;                       // representations
    private final double lensWeight;
    private final LayerMap features;                   // representations, or null
    private final double featureWeight;
    private final boolean cosine;
    private final Map<Integer, Parameter> projections; // student layer -> [Ct × Cs], when widths differ
    private final DomainBatches source;                // the phase's batches: which template each row used
    private final PromptTemplates templates;           // their bandit, rewarded by representations and outputs

    ProgressiveObjective(Kind kind, LlamaModel student, LlamaModel teacher, double temperature, LayerMap lens, double lensWeight,
                         LayerMap features, double featureWeight, boolean cosine, Map<Integer, Parameter> projections,
                         DomainBatches source, PromptTemplates templates) {
        this.kind = kind;
        this.student = student;
        this.teacher = teacher;
        this.temperature = temperature;
        this.lens = lens;
        this.lensWeight = lensWeight;
        this.features = features;
        this.featureWeight = featureWeight;
        this.cosine = cosine;
        this.projections = projections;
        this.source = source;
        this.templates = templates;
    }

    /** The template bandit's scores and counts: a resumed run must choose as the uninterrupted one. */
    @Override
    public List<Parameter> state() {
        return List.of(templates.state());
    }

    /** The template weights the next draws use, {@code template_k}, when there are several templates. */
    @Override
    public Map<String, Object> metrics() {
        if (templates.size() == 1) return Map.of();
        Map<String, Object> out = new java.util.LinkedHashMap<>();
        double[] w = templates.weights();
        for (int k = 0; k < w.length; k++) out.put("template_" + k, w[k]);
        return out;
    }

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        int b = batch.batch(), t = batch.seq();
        int[] chosen = g.gradEnabled() ? source.templatesOf(batch) : null;   // a training batch (not a held-out one)
        if (kind == Kind.GENERATION) {   // the targets are the teacher's own tokens
            Var loss = student.loss(g, batch.inputs(), batch.targets(), b, t, divisor);
            return new StepLoss(loss, loss.item() * divisor, 0, batch.targetCount(), 0);
        }
        boolean layers = kind == Kind.REPRESENTATIONS;
        List<Var> studentLayers = layers ? new ArrayList<>() : null, teacherLayers = layers ? new ArrayList<>() : null;
        Var studentHidden = student.hidden(g, batch.inputs(), b, t, studentLayers);          // [B × T × Cs], normed
        try (Graph teacherGraph = Graph.noGrad(g.pool())) {
            Var teacherHidden = teacher.hidden(teacherGraph, batch.inputs(), b, t, teacherLayers);   // [B × T × Ct]
            if (kind == Kind.OUTPUTS) {
                LogitLensLoss.Result r = lens(studentHidden, teacherHidden, batch, divisor);
                if (chosen != null) templates.reward(chosen, t, r.perRow().kd(), r.perRow().teacherEntropy(), batch.targets());
                return new StepLoss(r.loss(), r.ceSum(), r.klSum(), r.countedRows(), r.top1Agreement());
            }
            Var loss = null;
            LogitLensLoss.Result deepest = null;
            double ce = 0, kl = 0;
            long counted = 0, agree = 0;
            if (lensWeight > 0) {
                float w = (float) (lensWeight / lens.pairs().size());
                for (LayerMap.Pair pair : lens.pairs()) {
                    Var s = student.norm().forward(studentLayers.get(pair.student() + 1));
                    Var te = teacher.norm().forward(teacherLayers.get(pair.teacher() + 1));
                    LogitLensLoss.Result r = lens(s, te, batch, divisor);
                    loss = add(loss, Arithmetic.scale(r.loss(), w));
                    ce += r.ceSum() / lens.pairs().size();
                    kl += r.klSum() / lens.pairs().size();
                    counted = r.countedRows();
                    agree = r.top1Agreement();      // the deepest pair's, last
                    deepest = r;
                }
                if (chosen != null && deepest != null) templates.reward(chosen, t, deepest.perRow().kd(), deepest.perRow().teacherEntropy(), batch.targets());
            }
            if (features != null) {
                for (LayerMap.Pair pair : features.pairs()) {
                    Var s = studentLayers.get(pair.student() + 1);
                    Var te = g.constant(copyOut(g, teacherLayers.get(pair.teacher() + 1)));
                    Parameter projection = projections.get(pair.student());
                    Var term = cosine ? FeatureLoss.cosine(s, te, projection) : FeatureLoss.mse(s, te, projection);
                    loss = add(loss, Arithmetic.scale(term, (float) featureWeight));
                }
            }
            return new StepLoss(loss, ce, kl, counted == 0 ? batch.targetCount() : counted, agree);
        }
    }

    /** The cross-entropy of the student's lens on {@code s} [B × T × Cs] against the teacher's on {@code te}, both normed. */
    private LogitLensLoss.Result lens(Var s, Var te, Batch batch, double divisor) {
        return LogitLensLoss.linear(s, student.lmHead(), DenseTeacher.of(te, teacher.lmHead(), 0), batch.targets(),
                temperature, divisor, LlamaModel.LOSS_CHUNK_ROWS);
    }

    private static Var add(Var sum, Var term) {
        return sum == null ? term : Arithmetic.add(sum, term);
    }

    /** The teacher's activation, copied into the student graph (the teacher graph closes before backward). */
    private static Tensor copyOut(Graph g, Var teacherValue) {
        Tensor copy = g.allocate(teacherValue.shape());
        teacherValue.value().copyInto(copy);
        return copy;
    }
}
