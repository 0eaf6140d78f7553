package dev.retort.distill.meta;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.GradientClipping;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.Lora;
import dev.retort.models.lora.LoraConfig;
import dev.retort.models.lora.LoraModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The teacher of meta-distillation and what its meta-update trains: φ, either LoRA matrices on the frozen
 * teacher or every teacher parameter, with φ's own AdamW optimizer.
 *
 * <p>Checkpoints: the trainer saves the parameters an objective lists, by name, and restores them in place.
 * {@link #checkpointState()} hands it frozen aliases of φ, of the optimizer's moment buffers and of a one-element
 * step counter (names under {@code meta_teacher/}), all sharing memory with the live tensors, so a resumed run
 * continues the teacher's updates bit for bit. The moment buffers exist from the start (zeros, exactly what a
 * fresh AdamW would create), so the aliases stay valid. The step counter is kept as F32, exact to 2²⁴ steps.
 */
public final class MetaTeacher {
    /** Global-norm clip of the teacher's meta-gradient (as in MetaDistil's and Cantini et al.'s setups). */
    public static final double CLIP = 1.0;

    private final LlamaModel model;
    private final LoraModel lora;                 // null for the full update
    private final List<Parameter> phi;
    private final AdamW optimizer;
    private final Tensor stepCounter;             // [1] F32: the optimizer's step count, saved with the checkpoint
    private final List<Parameter> checkpointState = new ArrayList<>();

    private MetaTeacher(LlamaModel model, LoraModel lora, List<Parameter> phi, double lr) {
        if (phi.isEmpty()) throw new IllegalArgumentException("meta-distillation: the teacher has nothing to train");
        this.model = model;
        this.lora = lora;
        this.phi = List.copyOf(phi);
        this.optimizer = new AdamW(List.of(ParamGroup.of(this.phi, 0.0)), lr);
        Map<String, Tensor> zeros = new LinkedHashMap<>();
        Arena scratch = Arena.ofAuto();
        for (Parameter p : this.phi) {
            for (String kind : List.of("exp_avg", "exp_avg_sq")) zeros.put(p.name() + "." + kind, Tensor.zeros(scratch, DType.F32, p.value().shape()));
        }
        optimizer.loadState(zeros, 0);
        stepCounter = Tensor.zeros(Arena.ofAuto(), DType.F32, 1);
        for (Parameter p : this.phi) checkpointState.add(new Parameter("meta_teacher/" + p.name(), p.value(), false));
        for (Map.Entry<String, Tensor> e : new java.util.TreeMap<>(optimizer.state()).entrySet()) {
            checkpointState.add(new Parameter("meta_teacher/optimizer/" + e.getKey(), e.getValue(), false));
        }
        checkpointState.add(new Parameter("meta_teacher/optimizer/step", stepCounter, false));
    }

    /** φ = LoRA adapters (dropout 0) attached to every projection of {@code teacher}, whose weights stay frozen. */
    public static MetaTeacher lora(LlamaModel teacher, int rank, double alpha, long seed, double lr) {
        LoraConfig config = new LoraConfig(rank, alpha, 0, List.of(LoraConfig.ALL_LINEAR), false, seed ^ 0x7EAC4E5L);
        LoraModel adapters = Lora.attach(teacher, config);
        return new MetaTeacher(teacher, adapters, adapters.parameters(), lr);
    }

    /** φ = every parameter of {@code teacher}, which must have been loaded trainable (F32 copies). */
    public static MetaTeacher full(LlamaModel teacher, double lr) {
        List<Parameter> all = teacher.trainableParameters();
        if (all.size() != teacher.namedParameters().size()) {
            throw new IllegalArgumentException("meta-update full: load the teacher trainable (F32 copies of every weight)");
        }
        return new MetaTeacher(teacher, null, all, lr);
    }

    public LlamaModel model() { return model; }

    /** The teacher's LoRA, or null when the full teacher is updated. */
    public LoraModel lora() { return lora; }

    /** φ: what the meta-update trains. */
    public List<Parameter> parameters() { return phi; }

    public AdamW optimizer() { return optimizer; }

    /** Aliases of φ and of the optimizer's state for the training checkpoint (see the class comment). */
    public List<Parameter> checkpointState() { return checkpointState; }

    /**
     * One meta-update: φ's gradients ← {@code metaGradient}, clipped at global norm {@link #CLIP}, AdamW step,
     * gradients back to zero. Returns the gradient norm before clipping.
     */
    public double update(List<float[]> metaGradient) {
        // a checkpoint restored since the last update carries the step count the moments belong to
        long saved = Math.round(stepCounter.getFlat(0));
        if (saved != optimizer.stepCount()) optimizer.restoreStepCount(saved);
        for (int i = 0; i < phi.size(); i++) {
            Tensor g = phi.get(i).gradForAccumulation();
            float[] values = metaGradient.get(i);
            java.lang.foreign.MemorySegment.copy(values, 0, g.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED,
                    g.byteOffset(), values.length);
        }
        double norm = GradientClipping.clipGlobalNorm(phi, CLIP);
        if (!Double.isFinite(norm)) {
            throw new IllegalStateException("the teacher's meta-gradient is not finite (" + norm + "); try a smaller --pilot-lr or a larger --fd-step");
        }
        optimizer.step();
        optimizer.zeroGrad();
        stepCounter.setFlat(0, optimizer.stepCount());
        return norm;
    }
}
