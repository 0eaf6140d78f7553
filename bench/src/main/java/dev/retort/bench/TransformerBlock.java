package dev.retort.bench;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.Attention;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.RmsNorm;
import dev.retort.autograd.ops.Rope;
import dev.retort.autograd.ops.Shapes;
import dev.retort.tensor.DType;
import dev.retort.tensor.RopeTables;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Elementwise.RopeLayout;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/**
 * One Llama decoder block built directly from autograd ops, for benchmarking the engine:
 * x → RMSNorm → q,k,v → RoPE → causal attention → o → +x → RMSNorm → SwiGLU MLP → +.
 */
final class TransformerBlock {
    final int dim, heads, hidden, seq, batch;
    final Parameter attnNorm, wq, wk, wv, wo, mlpNorm, wGate, wUp, wDown;
    final Tensor cos, sin;
    final int[] positions;

    TransformerBlock(Arena arena, int dim, int heads, int hidden, int seq, int batch, long seed) {
        this.dim = dim;
        this.heads = heads;
        this.hidden = hidden;
        this.seq = seq;
        this.batch = batch;
        SplittableRandom random = new SplittableRandom(seed);
        attnNorm = new Parameter("input_layernorm.weight", ones(arena, dim), true);
        wq = new Parameter("q_proj.weight", random(arena, random, dim, dim), true);
        wk = new Parameter("k_proj.weight", random(arena, random, dim, dim), true);
        wv = new Parameter("v_proj.weight", random(arena, random, dim, dim), true);
        wo = new Parameter("o_proj.weight", random(arena, random, dim, dim), true);
        mlpNorm = new Parameter("post_attention_layernorm.weight", ones(arena, dim), true);
        wGate = new Parameter("gate_proj.weight", random(arena, random, hidden, dim), true);
        wUp = new Parameter("up_proj.weight", random(arena, random, hidden, dim), true);
        wDown = new Parameter("down_proj.weight", random(arena, random, dim, hidden), true);
        RopeTables tables = RopeTables.create(arena, seq, dim / heads, 10000.0, null);
        cos = tables.cos();
        sin = tables.sin();
        positions = new int[batch * seq];
        for (int i = 0; i < positions.length; i++) positions[i] = i % seq;
    }

    /** x is [batch × seq × dim]; returns the block's output of the same shape. */
    Var forward(Var x) {
        int headDim = dim / heads;
        Var h = RmsNorm.apply(x, attnNorm, 1e-5f);
        Var q = Rope.apply(MatMul.linear(h, wq), heads, headDim, positions, cos, sin, RopeLayout.HALF);
        Var k = Rope.apply(MatMul.linear(h, wk), heads, headDim, positions, cos, sin, RopeLayout.HALF);
        Var v = MatMul.linear(h, wv);
        Var attn = Attention.causal(q, k, v, heads, heads, headDim);
        Var x1 = Arithmetic.add(x, MatMul.linear(attn, wo));
        Var h2 = RmsNorm.apply(x1, mlpNorm, 1e-5f);
        Var mlp = MatMul.linear(Activations.swiglu(MatMul.linear(h2, wGate), MatMul.linear(h2, wUp)), wDown);
        return Arithmetic.add(x1, mlp);
    }

    Var input(Graph g, Tensor x) {
        return Shapes.reshape(g.leaf(x), batch, seq, dim);
    }

    static Tensor random(Arena arena, SplittableRandom random, int rows, int cols) {
        float[] v = new float[rows * cols];
        double scale = 1 / Math.sqrt(cols);
        for (int i = 0; i < v.length; i++) v[i] = (float) (random.nextGaussian() * scale);
        return Tensor.of(arena, v, rows, cols);
    }

    static Tensor ones(Arena arena, int n) {
        return Tensor.zeros(arena, DType.F32, n).fill(1f);
    }
}
