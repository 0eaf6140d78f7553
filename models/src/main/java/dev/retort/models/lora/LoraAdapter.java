package dev.retort.models.lora;

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
 * The low-rank update of one Linear layer: {@code y' = y + scale · (dropout(x)·Aᵀ)·Bᵀ}, where y = x·Wᵀ is the
 * layer's frozen output, A is [r × in] and B is [out × r], both F32 and trainable. The base weight W is not
 * touched: it stays in whatever memory and dtype it was loaded in.
 *
 * <p>Names are the ones PEFT writes in {@code adapter_model.safetensors}: for the layer
 * {@code model.layers.3.self_attn.q_proj} the parameters are
 * {@code base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight} and {@code ...lora_B.weight}.
 *
 * <p>Initialisation is PEFT's default: A ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5, as torch initialises
 * a Linear), B = 0, so a fresh adapter leaves the layer's output unchanged.
 *
 * <p>Dropout seeds: the n-th call of {@link #apply} that actually drops (dropout > 0 in a graph recording
 * gradients) uses the seed {@code dropoutSeed(n)}, derived from the config's seed, the layer's name and n. Calls
 * in evaluation (no-grad) graphs do not advance n, so evaluating between steps does not change the training
 * masks. {@link #dropoutCalls()} and {@link #setDropoutCalls} save and restore n for a resumed run.
 */
public final class LoraAdapter implements LinearAdapter {
    /** The prefix PEFT puts before the base model's own parameter names. */
    public static final String PEFT_PREFIX = "base_model.model.";

    private final Parameter a;  // [r × in]
    private final Parameter b;  // [out × r]
    private final float scale;
    private final float dropout;
    private final long dropoutBase;
    private long dropoutCalls;
    private boolean merged;

    /** A fresh adapter (A random, B zero) for the Linear layer {@code layerName} of shape [out × in]. */
    LoraAdapter(String layerName, int in, int out, LoraConfig config, Arena arena) {
        int r = config.rank();
        Tensor aValue = Tensor.zeros(arena, DType.F32, r, in);
        Tensor bValue = Tensor.zeros(arena, DType.F32, out, r);
        // kaiming_uniform_(a=√5): gain = √(2/(1+5)), bound = gain·√(3/fan_in) = 1/√in
        double bound = 1 / Math.sqrt(in);
        SplittableRandom random = new SplittableRandom(mix(config.seed(), layerName, 0x4C6F5241L));  // "LoRA"
        for (long i = 0; i < aValue.size(); i++) aValue.setFlat(i, (float) ((random.nextDouble() * 2 - 1) * bound));
        this.a = new Parameter(peftName(layerName, "A"), aValue, true);
        this.b = new Parameter(peftName(layerName, "B"), bValue, true);
        this.scale = (float) config.scale();
        this.dropout = (float) config.dropout();
        this.dropoutBase = mix(config.seed(), layerName, 0x44726F70L);  // "Drop"
    }

    /** The PEFT name of matrix "A" or "B" of the layer {@code layerName}. */
    public static String peftName(String layerName, String matrix) {
        return PEFT_PREFIX + layerName + ".lora_" + matrix + ".weight";
    }

    /** x [..., in], y = x·Wᵀ [..., out] → y + scale·(dropout(x)·Aᵀ)·Bᵀ, or y unchanged while merged into W. */
    @Override
    public Var apply(Var x, Var y) {
        if (merged) return y;  // W already holds W + scale·B·A
        Var dropped = x;
        if (dropout > 0 && x.graph().gradEnabled()) {
            dropped = Activations.dropout(x, dropout, dropoutSeed(dropoutCalls++));
        }
        // The scale goes on the [N × r] intermediate, the smallest tensor of the branch.
        Var down = Arithmetic.scale(MatMul.linear(dropped, a), scale);   // [N × r]
        Var up = MatMul.linear(down, b);                                  // [N × out]
        return Arithmetic.add(y, up);
    }

    /** The seed of the n-th dropping call (0-based). */
    public long dropoutSeed(long n) {
        return dropoutBase + n * 0x9E3779B97F4A7C15L;   // SplittableRandom mixes its seed, so a Weyl step will do
    }

    /** How many calls have drawn a dropout mask so far. */
    public long dropoutCalls() { return dropoutCalls; }

    /** Restores the dropout counter (resuming a run). */
    public void setDropoutCalls(long calls) {
        if (calls < 0) throw new IllegalArgumentException("dropout call count must be ≥ 0, got " + calls);
        dropoutCalls = calls;
    }

    /** A [r × in]. */
    public Parameter a() { return a; }

    /** B [out × r]. */
    public Parameter b() { return b; }

    public int rank() { return a.dim(0); }

    public int inFeatures() { return a.dim(1); }

    public int outFeatures() { return b.dim(0); }

    public float scale() { return scale; }

    /** True while the update is folded into the base weight (the branch is then skipped). */
    public boolean isMerged() { return merged; }

    void setMerged(boolean merged) { this.merged = merged; }

    /** A well-mixed 64-bit seed from a base seed, a name and a purpose (SplitMix64's finaliser). */
    private static long mix(long seed, String name, long purpose) {
        long z = seed ^ (purpose << 32) ^ (name.hashCode() * 0xBF58476D1CE4E5B9L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
