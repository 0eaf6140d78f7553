package dev.retort.models.llama;

import dev.retort.models.hf.LlamaConfig;

/** The shape every Hugging Face Llama parameter has under a given config. */
final class LlamaShapes {
    private LlamaShapes() {}

    static int[] shapeOf(LlamaConfig c, String name) {
        int hidden = c.hiddenSize(), q = c.numAttentionHeads() * c.headDim(), kv = c.numKeyValueHeads() * c.headDim();
        if (name.equals("model.embed_tokens.weight") || name.equals("lm_head.weight")) return new int[] {c.vocabSize(), hidden};
        if (name.equals("model.norm.weight")) return new int[] {hidden};
        String leaf = name.substring(name.indexOf('.', "model.layers.".length()) + 1);
        return switch (leaf) {
            case "input_layernorm.weight", "post_attention_layernorm.weight" -> new int[] {hidden};
            case "self_attn.q_proj.weight" -> new int[] {q, hidden};
            case "self_attn.k_proj.weight", "self_attn.v_proj.weight" -> new int[] {kv, hidden};
            case "self_attn.o_proj.weight" -> new int[] {hidden, q};
            case "self_attn.q_proj.bias" -> new int[] {q};
            case "self_attn.k_proj.bias", "self_attn.v_proj.bias" -> new int[] {kv};
            case "self_attn.o_proj.bias", "mlp.down_proj.bias" -> new int[] {hidden};
            case "mlp.gate_proj.weight", "mlp.up_proj.weight" -> new int[] {c.intermediateSize(), hidden};
            case "mlp.gate_proj.bias", "mlp.up_proj.bias" -> new int[] {c.intermediateSize()};
            case "mlp.down_proj.weight" -> new int[] {hidden, c.intermediateSize()};
            default -> throw new IllegalArgumentException("not a Llama parameter name: " + name);
        };
    }
}
