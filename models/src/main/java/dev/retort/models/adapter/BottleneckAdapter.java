package dev.retort.models.adapter;

import dev.retort.autograd.Module;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.autograd.nn.LinearAdapter;
import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.Arithmetic;
import dev.retort.autograd.ops.MatMul;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/**
 * One Houlsby bottleneck adapter: {@code h' = h + W_up·silu(W_down·h + b_down) + b_up}, where h [..., C] is the
 * output of a sub-block (attention after {@code o_proj}, or the MLP after {@code down_proj}) before it joins the
 * residual stream. W_down [size × C], b_down [size], W_up [C × size] and b_up [C] are F32 and trainable; the
 * model's own weights are not touched.
 *
 * <p>It is attached as the {@link LinearAdapter} of {@code o_proj} or {@code down_proj}: an adapter there sees the
 * projection's output y = x·Wᵀ (+ b), and h is exactly that y, so the Linear seam LoRA uses carries it too. Unlike
 * LoRA it reads the layer's output, not its input.
 *
 * <p>The nonlinearity is SiLU: Houlsby et al. leave it open (AdapterHub defaults to ReLU, PEFT has no bottleneck
 * adapters at all); SiLU is smooth, so no unit starts dead, it is the nonlinearity Llama itself uses, and the
 * training and KV-cache paths then share the same SiLU kernels.
 *
 * <p>Initialisation: W_down ~ U(−1/√C, 1/√C) (how torch initialises a Linear, as LoRA's A), b_down = 0, and
 * W_up = 0, b_up = 0, so a fresh adapter adds exactly zero: the model's output is unchanged until W_up has
 * trained (W_up's gradient is non-zero from the first step; W_down's follows once W_up is).
 *
 * <p>It cannot be merged into the weights: the nonlinearity sits between the two projections, so h' is not a
 * linear function of h and no change of W_o or W_down of the model reproduces it. It is kept as a module and
 * saved as one ({@link BottleneckFiles}).
 *
 * <p>Parameter names, for an adapter called {@code model.layers.3.self_attn.adapter}:
 * {@code model.layers.3.self_attn.adapter.down.weight}, {@code ....down.bias}, {@code ....up.weight},
 * {@code ....up.bias}.
 */
public final class BottleneckAdapter extends Module implements LinearAdapter {
    private final Parameter downWeight;   // [size × C]
    private final Parameter downBias;     // [size]
    private final Parameter upWeight;     // [C × size]
    private final Parameter upBias;       // [C]

    /** A fresh adapter (W_down random, the rest zero) of width {@code size} on a stream of width {@code hidden}. */
    BottleneckAdapter(String name, int hidden, int size, long seed, Arena arena) {
        super(name);
        Tensor down = Tensor.zeros(arena, DType.F32, size, hidden);
        // kaiming_uniform_(a=√5) as torch.nn.Linear: bound = 1/√fan_in
        double bound = 1 / Math.sqrt(hidden);
        SplittableRandom random = new SplittableRandom(seed ^ (name.hashCode() * 0x9E3779B97F4A7C15L));   // it mixes its seed
        for (long i = 0; i < down.size(); i++) down.setFlat(i, (float) ((random.nextDouble() * 2 - 1) * bound));
        downWeight = parameter("down.weight", down, true);
        downBias = parameter("down.bias", Tensor.zeros(arena, DType.F32, size), true);
        upWeight = parameter("up.weight", Tensor.zeros(arena, DType.F32, hidden, size), true);
        upBias = parameter("up.bias", Tensor.zeros(arena, DType.F32, hidden), true);
    }

    /** input: the layer's input (unused); h = the layer's output [..., C] → h + W_up·silu(W_down·h + b_down) + b_up. */
    @Override
    public Var apply(Var input, Var h) {
        Var down = Arithmetic.add(MatMul.linear(h, downWeight), downBias);                    // [N × size]
        Var up = Arithmetic.add(MatMul.linear(Activations.silu(down), upWeight), upBias);     // [N × C]
        return Arithmetic.add(h, up);
    }

    /** W_down [size × C]. */
    public Parameter downWeight() { return downWeight; }

    /** b_down [size]. */
    public Parameter downBias() { return downBias; }

    /** W_up [C × size]. */
    public Parameter upWeight() { return upWeight; }

    /** b_up [C]. */
    public Parameter upBias() { return upBias; }

    /** The bottleneck width. */
    public int size() { return downWeight.dim(0); }

    /** The width C of the stream it adapts. */
    public int hidden() { return downWeight.dim(1); }
}
