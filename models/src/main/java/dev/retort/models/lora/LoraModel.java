package dev.retort.models.lora;

import dev.retort.tensor.DTypeConversion;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The adapters attached to one model by {@link Lora#attach}: one {@link LoraAdapter} per adapted Linear layer,
 * by layer name ({@code model.layers.3.self_attn.q_proj}) in model order. While attached, every base parameter
 * of the model is frozen and the adapters' A and B are the only trainable parameters.
 *
 * <p>Merging folds {@code ΔW = scale·B·A} [out × in] into the base weights, after which the adapters' branches
 * are skipped and the model runs at base speed. That needs F32 weights in writable memory; for frozen
 * memory-mapped or BF16/F16 weights {@link #mergedWeight} returns the merged weight as a new tensor instead.
 * ΔW is computed with the GEMM kernel.
 */
public final class LoraModel {
    private final LlamaModel model;
    private final LoraConfig config;
    private final Map<String, Linear> layers;
    private final Map<String, LoraAdapter> adapters = new LinkedHashMap<>();
    private final Map<Parameter, Boolean> wasTrainable = new IdentityHashMap<>();
    private final Arena arena = Arena.ofShared();
    private boolean merged;
    private boolean attached = true;

    LoraModel(LlamaModel model, LoraConfig config, Map<String, Linear> layers) {
        this.model = model;
        this.config = config;
        this.layers = Collections.unmodifiableMap(new LinkedHashMap<>(layers));
        for (Linear linear : layers.values()) {
            adapters.put(linear.name(), new LoraAdapter(linear.name(), linear.inFeatures(), linear.outFeatures(), config, arena));
        }
        for (Parameter p : model.namedParameters().values()) wasTrainable.put(p, p.trainable());
        model.freeze();
        for (Map.Entry<String, Linear> e : layers.entrySet()) e.getValue().setAdapter(adapters.get(e.getKey()));
    }

    public LlamaModel model() { return model; }

    public LoraConfig config() { return config; }

    /** Every adapter by the name of the layer it adapts, in model order. */
    public Map<String, LoraAdapter> adapters() {
        checkAttached();
        return Collections.unmodifiableMap(adapters);
    }

    /** The adapter of {@code layerName}, or an error listing the adapted layers. */
    public LoraAdapter adapter(String layerName) {
        checkAttached();
        LoraAdapter adapter = adapters.get(layerName);
        if (adapter == null) {
            throw new IllegalArgumentException("no LoRA adapter on layer '" + layerName + "'; adapted layers: " + adapters.keySet());
        }
        return adapter;
    }

    /** The trainable parameters: A then B of each adapter, in model order. */
    public List<Parameter> parameters() {
        checkAttached();
        List<Parameter> all = new ArrayList<>();
        for (LoraAdapter a : adapters.values()) {
            all.add(a.a());
            all.add(a.b());
        }
        return all;
    }

    /** The parameters by their PEFT names (the keys of {@code adapter_model.safetensors}). */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> named = new LinkedHashMap<>();
        for (Parameter p : parameters()) named.put(p.name(), p);
        return named;
    }

    /**
     * Optimizer groups for LoRA+ (Hayou et al. 2024): the A matrices at the base learning rate, the B matrices
     * at {@code loraPlusRatio} times it (1 gives plain LoRA). Both groups get {@code weightDecay}.
     */
    public List<ParamGroup> paramGroups(double weightDecay, double loraPlusRatio) {
        if (!(loraPlusRatio > 0) || Double.isInfinite(loraPlusRatio)) {
            throw new IllegalArgumentException("LoRA+ learning-rate ratio must be a positive finite number, got " + loraPlusRatio);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new IllegalArgumentException("weight decay must be a finite number ≥ 0, got " + weightDecay);
        }
        checkAttached();
        List<Parameter> as = new ArrayList<>(), bs = new ArrayList<>();
        for (LoraAdapter a : adapters.values()) {
            as.add(a.a());
            bs.add(a.b());
        }
        return List.of(new ParamGroup(as, 1.0, weightDecay), new ParamGroup(bs, loraPlusRatio, weightDecay));
    }

    /** Sets the adapters' gradients to zero. */
    public void zeroGrad() {
        for (Parameter p : parameters()) p.zeroGrad();
    }

    // ---- merging --------------------------------------------------------------------------------------

    /** True while every update is folded into its base weight. */
    public boolean isMerged() { return merged; }

    /**
     * W ← W + scale·B·A for every adapted layer, in place; the adapters' branches are then skipped. Every base
     * weight must be F32 in writable memory (checked for all layers before any is changed). Do not change A or
     * B while merged: {@link #unmerge} subtracts the update computed from their current values.
     */
    public void merge() {
        checkAttached();
        if (merged) throw new IllegalStateException("the LoRA adapters are already merged");
        for (String name : layers.keySet()) requireMergeableInPlace(name);
        for (Map.Entry<String, LoraAdapter> e : adapters.entrySet()) {
            Tensor w = layers.get(e.getKey()).weight().value();
            addDelta(e.getValue(), 1f, w.segment(), w.offset(), (int) w.stride(0));
            e.getValue().setMerged(true);
        }
        merged = true;
    }

    /**
     * W ← W − scale·B·A, undoing {@link #merge()} (up to the rounding of the two F32 additions, about one ulp
     * of W), and turns the adapters' branches back on.
     */
    public void unmerge() {
        checkAttached();
        if (!merged) throw new IllegalStateException("the LoRA adapters are not merged");
        for (Map.Entry<String, LoraAdapter> e : adapters.entrySet()) {
            Tensor w = layers.get(e.getKey()).weight().value();
            addDelta(e.getValue(), -1f, w.segment(), w.offset(), (int) w.stride(0));
            e.getValue().setMerged(false);
        }
        merged = false;
    }

    /** ΔW = scale·B·A [out × in] of one layer, F32, in {@code arena}. */
    public Tensor delta(String layerName, Arena out) {
        LoraAdapter adapter = adapter(layerName);
        Tensor delta = Tensor.zeros(out, DType.F32, adapter.outFeatures(), adapter.inFeatures());
        addDelta(adapter, 1f, delta.segment(), 0, adapter.inFeatures());
        return delta;
    }

    /**
     * The merged weight W + scale·B·A of one layer as a new tensor in {@code dtype} (F32, or BF16/F16 rounded to
     * nearest even from the F32 sum), whatever W's dtype and memory; W itself is not touched. While merged in
     * place, W already holds the sum and is simply converted.
     */
    public Tensor mergedWeight(String layerName, DType dtype, Arena out) {
        LoraAdapter adapter = adapter(layerName);
        Tensor base = layers.get(layerName).weight().value();
        if (merged) return DTypeConversion.convert(base, dtype, out);
        if (dtype == DType.F32) {
            Tensor sum = DTypeConversion.convert(base, DType.F32, out);
            addDelta(adapter, 1f, sum.segment(), 0, adapter.inFeatures());
            return sum;
        }
        try (Arena scratch = Arena.ofConfined()) {
            Tensor sum = DTypeConversion.convert(base, DType.F32, scratch);
            addDelta(adapter, 1f, sum.segment(), 0, adapter.inFeatures());
            return DTypeConversion.convert(sum, dtype, out);
        }
    }

    /** C[out × in] += sign·scale·B[out × r]·A[r × in] (F32, row stride ldc). */
    private static void addDelta(LoraAdapter adapter, float sign, MemorySegment c, long cOffset, int ldc) {
        Tensor a = adapter.a().value(), b = adapter.b().value();
        Kernels.get().gemm().gemm(Gemm.Layout.AB, adapter.outFeatures(), adapter.inFeatures(), adapter.rank(),
                sign * adapter.scale(), b.segment(), b.offset(), (int) b.stride(0),
                a.segment(), a.offset(), (int) a.stride(0), DType.F32, 1f, c, cOffset, ldc);
    }

    private void requireMergeableInPlace(String layerName) {
        Parameter weight = layers.get(layerName).weight();
        Tensor w = weight.value();
        String why = w.dtype() != DType.F32 ? "it is " + w.dtype()
                : w.segment().isReadOnly() ? "it is read-only (memory-mapped from the checkpoint)"
                : w.stride(1) != 1 ? "its rows are not contiguous"
                : null;
        if (why != null) {
            throw new IllegalStateException("cannot merge LoRA into '" + weight.name() + "' in place: " + why
                    + "; load the model trainable (F32 copies) or use mergedWeight(layer, dtype, arena) for a merged copy");
        }
    }

    // ---- detaching ------------------------------------------------------------------------------------

    /**
     * Removes the adapters from their layers, restores each base parameter's trainable flag as it was before
     * {@link Lora#attach}, and frees A and B. If merged, the base weights keep the merged values (PEFT's
     * merge-and-unload); call {@link #unmerge()} first to get the original weights back. The handle is unusable
     * afterwards.
     */
    public void detach() {
        checkAttached();
        for (Linear linear : layers.values()) linear.setAdapter(null);
        for (Map.Entry<Parameter, Boolean> e : wasTrainable.entrySet()) e.getKey().setTrainable(e.getValue());
        attached = false;
        arena.close();
    }

    private void checkAttached() {
        if (!attached) throw new IllegalStateException("these LoRA adapters were detached from their model");
    }
}
