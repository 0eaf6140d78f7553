package dev.retort.models.llama;

import dev.retort.autograd.Module;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.nn.RmsNormLayer;
import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.Attention;
import dev.retort.autograd.ops.Rope;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.tensor.RopeTables;
import dev.retort.tensor.kernels.Elementwise.RopeLayout;

/**
 * One Llama decoder layer, {@code model.layers.N}: pre-norm attention and a pre-norm SwiGLU MLP, each added
 * back to the residual stream.
 * <pre>
 *   h = x + o_proj(attention(rope(q_proj(norm1(x))), rope(k_proj(norm1(x))), v_proj(norm1(x))))
 *   y = h + down_proj(silu(gate_proj(norm2(h))) ⊙ up_proj(norm2(h)))
 * </pre>
 * An adapter on a projection changes that projection's output ({@link Linear#setAdapter}): LoRA on any of them,
 * a bottleneck adapter on o_proj and down_proj, so that it sits on each block's output before the residual add.
 */
public final class DecoderLayer extends Module {
    public final RmsNormLayer inputNorm;
    public final Linear qProj, kProj, vProj, oProj;
    public final RmsNormLayer postAttentionNorm;
    public final Linear gateProj, upProj, downProj;
    private final LlamaConfig config;

    DecoderLayer(String name, LlamaConfig config, WeightSource weights) {
        super(name);
        this.config = config;
        String attn = qualified("self_attn"), mlp = qualified("mlp");
        inputNorm = child(weights.norm(qualified("input_layernorm"), config));
        qProj = child(weights.linear(attn + ".q_proj", config.attentionBias()));
        kProj = child(weights.linear(attn + ".k_proj", config.attentionBias()));
        vProj = child(weights.linear(attn + ".v_proj", config.attentionBias()));
        oProj = child(weights.linear(attn + ".o_proj", config.attentionBias()));
        postAttentionNorm = child(weights.norm(qualified("post_attention_layernorm"), config));
        gateProj = child(weights.linear(mlp + ".gate_proj", config.mlpBias()));
        upProj = child(weights.linear(mlp + ".up_proj", config.mlpBias()));
        downProj = child(weights.linear(mlp + ".down_proj", config.mlpBias()));
    }

    /** x is [batch × seq × hidden]; positions[b·seq + t] is token t's position; returns the same shape. */
    public Var forward(Var x, int[] positions, RopeTables rope) {
        int heads = config.numAttentionHeads(), kvHeads = config.numKeyValueHeads(), headDim = config.headDim();
        // attention block
        Var h = inputNorm.forward(x);
        Var q = Rope.apply(qProj.forward(h), heads, headDim, positions, rope.cos(), rope.sin(), RopeLayout.HALF);
        Var k = Rope.apply(kProj.forward(h), kvHeads, headDim, positions, rope.cos(), rope.sin(), RopeLayout.HALF);
        Var v = vProj.forward(h);
        Var attended = Attention.causal(q, k, v, heads, kvHeads, headDim);
        Var residual = Arithmetic.add(x, oProj.forward(attended));
        // MLP block
        Var h2 = postAttentionNorm.forward(residual);
        Var mlp = downProj.forward(Activations.swiglu(gateProj.forward(h2), upProj.forward(h2)));
        return Arithmetic.add(residual, mlp);
    }
}
