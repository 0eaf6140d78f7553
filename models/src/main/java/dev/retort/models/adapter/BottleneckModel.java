package dev.retort.models.adapter;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.nn.Linear;
import dev.retort.models.llama.DecoderLayer;
import dev.retort.models.llama.LlamaModel;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Bottleneck adapters attached to one model: one {@link BottleneckAdapter} after the attention block
 * ({@code model.layers.N.self_attn.adapter}, on {@code o_proj}'s output) and/or after the MLP
 * ({@code model.layers.N.mlp.adapter}, on {@code down_proj}'s output) of every decoder layer. While attached, every
 * base parameter is frozen and the adapters' parameters are the only trainable ones. Both the training forward
 * ({@link LlamaModel}) and the KV-cache path ({@link dev.retort.models.llama.LlamaInference}) apply them.
 *
 * <pre>{@code
 * BottleneckModel adapters = BottleneckModel.attach(model, BottleneckConfig.of(16));
 * ... train: only the adapters receive gradients ...
 * BottleneckFiles.save(dir, adapters, "path/to/base");
 * }</pre>
 *
 * <p>There is no merge: see {@link BottleneckAdapter} (a nonlinearity between the projections).
 */
public final class BottleneckModel {
    private final LlamaModel model;
    private final BottleneckConfig config;
    private final Map<String, Linear> layers = new LinkedHashMap<>();             // adapted projection by adapter name
    private final Map<String, BottleneckAdapter> adapters = new LinkedHashMap<>();
    private final Map<Parameter, Boolean> wasTrainable = new IdentityHashMap<>();
    private final Arena arena = Arena.ofShared();
    private boolean attached = true;

    private BottleneckModel(LlamaModel model, BottleneckConfig config) {
        this.model = model;
        this.config = config;
        int hidden = model.config().hiddenSize();
        for (DecoderLayer layer : model.layers()) {
            if (config.placement().attention()) layers.put(adapterName(layer.oProj), layer.oProj);
            if (config.placement().mlp()) layers.put(adapterName(layer.downProj), layer.downProj);
        }
        for (Linear linear : layers.values()) {
            if (linear.adapter() != null) {
                arena.close();
                throw new IllegalStateException("layer '" + linear.name() + "' already has an adapter; detach it first");
            }
        }
        for (String name : layers.keySet()) adapters.put(name, new BottleneckAdapter(name, hidden, config.size(), config.seed(), arena));
        for (Parameter p : model.namedParameters().values()) wasTrainable.put(p, p.trainable());
        model.freeze();
        for (Map.Entry<String, Linear> e : layers.entrySet()) e.getValue().setAdapter(adapters.get(e.getKey()));
    }

    /**
     * Puts a fresh adapter after the blocks {@code config} places them at, in every decoder layer, and freezes every
     * parameter of the model, so that only the adapters train. {@link #detach()} undoes both.
     */
    public static BottleneckModel attach(LlamaModel model, BottleneckConfig config) {
        return new BottleneckModel(model, config);
    }

    /** {@code model.layers.N.self_attn.adapter} for o_proj, {@code model.layers.N.mlp.adapter} for down_proj. */
    private static String adapterName(Linear projection) {
        String name = projection.name();
        return name.substring(0, name.lastIndexOf('.')) + ".adapter";
    }

    public LlamaModel model() { return model; }

    public BottleneckConfig config() { return config; }

    /** Every adapter by its name ({@code model.layers.N.self_attn.adapter}, {@code model.layers.N.mlp.adapter}), in model order. */
    public Map<String, BottleneckAdapter> adapters() {
        checkAttached();
        return Collections.unmodifiableMap(adapters);
    }

    /** The trainable parameters: W_down, b_down, W_up, b_up of each adapter, in model order. */
    public List<Parameter> parameters() {
        checkAttached();
        List<Parameter> all = new ArrayList<>();
        for (BottleneckAdapter a : adapters.values()) all.addAll(a.namedParameters().values());
        return all;
    }

    /** The parameters by name (the keys of {@link BottleneckFiles#WEIGHTS_FILE}). */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> named = new LinkedHashMap<>();
        for (Parameter p : parameters()) named.put(p.name(), p);
        return named;
    }

    /** Sets the adapters' gradients to zero. */
    public void zeroGrad() {
        for (Parameter p : parameters()) p.zeroGrad();
    }

    /**
     * Removes the adapters from their layers, restores each base parameter's trainable flag as it was before
     * {@link #attach}, and frees the adapters' memory. The handle is unusable afterwards.
     */
    public void detach() {
        checkAttached();
        for (Linear linear : layers.values()) linear.setAdapter(null);
        for (Map.Entry<Parameter, Boolean> e : wasTrainable.entrySet()) e.getKey().setTrainable(e.getValue());
        attached = false;
        arena.close();
    }

    private void checkAttached() {
        if (!attached) throw new IllegalStateException("these bottleneck adapters were detached from their model");
    }
}
