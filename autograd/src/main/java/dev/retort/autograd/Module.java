package dev.retort.autograd;

import dev.retort.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A named group of parameters and sub-modules. Names compose with dots exactly as Hugging Face state dicts do:
 * a {@code Linear} created as {@code "model.layers.3.self_attn.q_proj"} owns the parameter
 * {@code "model.layers.3.self_attn.q_proj.weight"}. Subclasses create their parameters with {@link #parameter}
 * and register sub-modules with {@link #child}, in the order a state dict lists them.
 */
public abstract class Module {
    private final String name;
    private final List<Parameter> own = new ArrayList<>();
    private final List<Module> children = new ArrayList<>();

    /** {@code name} is the full dotted prefix of this module ("" for a root). */
    protected Module(String name) {
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** The full name of a parameter or child called {@code local} inside this module. */
    protected String qualified(String local) {
        return name.isEmpty() ? local : name + "." + local;
    }

    /** Creates and registers a parameter called {@code local} (full name: this module's name + "." + local). */
    protected Parameter parameter(String local, Tensor value, boolean trainable) {
        Parameter p = new Parameter(qualified(local), value, trainable);
        own.add(p);
        return p;
    }

    /** Registers a sub-module (which was created with a name under this module's). */
    protected <M extends Module> M child(M module) {
        children.add(module);
        return module;
    }

    /** Every parameter of this module and its descendants, by full name, in registration order. */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> all = new LinkedHashMap<>();
        collect(all);
        return all;
    }

    private void collect(Map<String, Parameter> into) {
        for (Parameter p : own) {
            if (into.put(p.name(), p) != null) throw new IllegalStateException("two parameters named '" + p.name() + "'");
        }
        for (Module m : children) m.collect(into);
    }

    /** The trainable parameters, in registration order. */
    public List<Parameter> trainableParameters() {
        return namedParameters().values().stream().filter(Parameter::trainable).toList();
    }

    /** Freezes every parameter of this module and its descendants. */
    public void freeze() {
        for (Parameter p : namedParameters().values()) p.setTrainable(false);
    }

    /** Sets every trainable parameter's gradient to zero. */
    public void zeroGrad() {
        for (Parameter p : namedParameters().values()) p.zeroGrad();
    }
}
