package dev.retort.models.lora;

import dev.retort.autograd.nn.Linear;
import dev.retort.models.llama.DecoderLayer;
import dev.retort.models.llama.LlamaModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Attaches LoRA adapters to a Llama model.
 *
 * <pre>{@code
 * LoraModel lora = Lora.attach(model, LoraConfig.of(8, 16, "q_proj", "v_proj"));
 * AdamW opt = new AdamW(lora.paramGroups(0.0, 16.0), 2e-4, ...);   // LoRA+: B learns 16× faster
 * ... train: only the A and B matrices receive gradients ...
 * PeftAdapter.save(dir, lora, "path/to/base");
 * }</pre>
 */
public final class Lora {
    private Lora() {}

    /**
     * Puts a fresh adapter on every targeted Linear layer of every decoder layer and freezes every parameter
     * of the model, so that only the adapters' A and B train. {@link LoraModel#detach()} undoes both.
     */
    public static LoraModel attach(LlamaModel model, LoraConfig config) {
        Map<String, Linear> targets = new LinkedHashMap<>();
        for (DecoderLayer layer : model.layers()) {
            for (Map.Entry<String, Linear> e : linears(layer).entrySet()) {
                if (!config.targets(e.getKey())) continue;
                Linear linear = e.getValue();
                if (linear.adapter() != null) {
                    throw new IllegalStateException("layer '" + linear.name() + "' already has an adapter; detach it first");
                }
                targets.put(linear.name(), linear);
            }
        }
        return new LoraModel(model, config, targets);
    }

    /** The Linear layers of a decoder layer by PEFT's short names, in state-dict order. */
    static Map<String, Linear> linears(DecoderLayer layer) {
        Map<String, Linear> byName = new LinkedHashMap<>();
        List<Linear> list = List.of(layer.qProj, layer.kProj, layer.vProj, layer.oProj,
                layer.gateProj, layer.upProj, layer.downProj);
        for (int i = 0; i < list.size(); i++) byName.put(LoraConfig.LLAMA_MODULES.get(i), list.get(i));
        return byName;
    }
}
