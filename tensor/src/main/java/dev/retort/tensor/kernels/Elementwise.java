package dev.retort.tensor.kernels;

import dev.retort.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * Element-wise, reduction and row-wise kernels over contiguous F32 data, forward and backward side by side.
 * Offsets are in elements. Unless a method says otherwise:
 * <ul>
 *   <li>outputs may alias inputs of the same shape (in-place use), but never partially overlap them;
 *   <li>backward kernels ACCUMULATE into gradient outputs ({@code dx += …}), as gradients do;
 *   <li>results are bitwise identical for any thread count (reductions use a fixed split).
 * </ul>
 * Shapes: {@code rows × cols} matrices are row-major with row stride {@code cols}.
 */
public interface Elementwise {

    // ---- binary element-wise with scalar broadcast -------------------------------------------------
    // aStride/bStride are 1 (a vector of n) or 0 (one value broadcast to all n). The Tensor-level ops build
    // N-dimensional broadcasting out of these by looping over the outer axes.

    /** out[i] = a[i·aStride] + b[i·bStride] for i in [0, n). */
    void add(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride,
             MemorySegment out, long outOffset);

    /** out[i] = a[i·aStride] · b[i·bStride] for i in [0, n). */
    void mul(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride,
             MemorySegment out, long outOffset);

    /** out[i] = alpha · x[i]. */
    void scale(int n, float alpha, MemorySegment x, long xOffset, MemorySegment out, long outOffset);

    /** y[i] += alpha · x[i]. */
    void axpy(int n, float alpha, MemorySegment x, long xOffset, MemorySegment y, long yOffset);

    // ---- reductions ---------------------------------------------------------------------------------

    /** Σ x[i] over [0, n), accumulated with a fixed split (F32 lanes combined in a fixed order). */
    float sum(int n, MemorySegment x, long xOffset);

    /** max x[i] over [0, n) (n ≥ 1); NaN if any element is NaN. */
    float max(int n, MemorySegment x, long xOffset);

    /** Σ x[i]·y[i] over [0, n). */
    float dot(int n, MemorySegment x, long xOffset, MemorySegment y, long yOffset);

    // ---- softmax ------------------------------------------------------------------------------------

    /** Row-wise softmax: out[r,:] = exp(x[r,:] − max) / Σ exp(x[r,:] − max). */
    void softmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset);

    /** Backward of softmax given its output y: dx[r,:] += y ⊙ (dy − Σ_j dy_j·y_j). */
    void softmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                         MemorySegment dx, long dxOffset);

    /** Row-wise log-softmax: out[r,:] = x[r,:] − max − log Σ exp(x[r,:] − max). */
    void logSoftmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset);

    /** Backward of log-softmax given its output y: dx[r,:] += dy − exp(y) · Σ_j dy_j. */
    void logSoftmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset,
                            MemorySegment dx, long dxOffset);

    // ---- RMSNorm ------------------------------------------------------------------------------------

    /**
     * out[r,:] = x[r,:] · rstd[r] ⊙ weight, rstd[r] = 1/√(mean(x[r,:]²) + eps). Writes rstd (F32 [rows]) for
     * the backward pass unless {@code rstd} is null. weight is F32 [cols].
     */
    void rmsNorm(int rows, int cols, float eps, MemorySegment x, long xOffset, MemorySegment weight, long weightOffset,
                 MemorySegment out, long outOffset, MemorySegment rstd, long rstdOffset);

    /**
     * Backward of RMSNorm: dx += rstd·(w⊙dy) − x·rstd³·mean(x ⊙ w ⊙ dy); dweight += Σ_r dy ⊙ x·rstd.
     * dweight (F32 [cols]) may be null (frozen weight); the sum over rows uses a fixed split.
     */
    void rmsNormBackward(int rows, int cols, MemorySegment x, long xOffset, MemorySegment weight, long weightOffset,
                         MemorySegment rstd, long rstdOffset, MemorySegment dy, long dyOffset,
                         MemorySegment dx, long dxOffset, MemorySegment dweight, long dweightOffset);

    // ---- rotary position embeddings -----------------------------------------------------------------

    /** How the pairs rotated together are laid out within a head. */
    enum RopeLayout {
        /** Hugging Face "rotate half": pair (i, i + d/2) for i &lt; d/2. */
        HALF,
        /** Original Llama / GPT-J interleaved: pair (2i, 2i + 1). */
        INTERLEAVED
    }

    /**
     * Rotates x in place: x is [tokens × heads × headDim] with token row stride {@code tokenStride} (elements)
     * and head stride {@code headDim}. Token t is at position {@code positions[t]}; cos and sin are tables
     * [maxPosition × headDim/2] (frequency i of position p at p·headDim/2 + i). {@code inverse} rotates by −θ,
     * which is the backward pass (apply it to the gradient).
     */
    void rope(RopeLayout layout, int tokens, int heads, int headDim, long tokenStride,
              MemorySegment x, long xOffset, int[] positions,
              MemorySegment cos, MemorySegment sin, boolean inverse);

    // ---- activations --------------------------------------------------------------------------------

    /** out[i] = silu(x[i]) = x[i] · σ(x[i]). */
    void silu(int n, MemorySegment x, long xOffset, MemorySegment out, long outOffset);

    /** dx[i] += dy[i] · σ(x)·(1 + x·(1 − σ(x))). */
    void siluBackward(int n, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset);

    /** out[i] = silu(gate[i]) · up[i] (the SwiGLU MLP's gating). */
    void swiglu(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment out, long outOffset);

    /** dgate[i] += dy·up·silu'(gate); dup[i] += dy·silu(gate). */
    void swigluBackward(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset,
                        MemorySegment dy, long dyOffset,
                        MemorySegment dgate, long dgateOffset, MemorySegment dup, long dupOffset);

    // ---- embeddings ---------------------------------------------------------------------------------

    /**
     * out[t,:] = table[ids[t],:] for t in [0, count): table is [vocab × dim] of type F32, BF16 or F16
     * (widened to F32); out is F32 [count × dim]. An id outside [0, vocab) is an IndexOutOfBoundsException.
     */
    void embeddingGather(int count, int[] ids, int idsOffset, int vocab, int dim,
                         MemorySegment table, long tableOffset, DType tableType,
                         MemorySegment out, long outOffset);

    /**
     * dtable[ids[t],:] += dy[t,:] for t in [0, count): dtable is F32 [vocab × dim]. Deterministic for repeated
     * ids: each row's contributions are added in token order.
     */
    void embeddingScatterAdd(int count, int[] ids, int idsOffset, int vocab, int dim,
                             MemorySegment dy, long dyOffset, MemorySegment dtable, long dtableOffset);

    // ---- distillation rows ------------------------------------------------------------------------------
    // One row of V logits at a time, on the calling thread: the KD loss spreads its rows over the pool itself.
    // The scalar twin computes in double exactly as the reference formulas read; the SIMD kernels in float
    // lanes, with sums gathered into double every block of lanes.

    /** A row's statistics: max, argmax (lowest index of the max), log Σ_j exp(x_j) and log Σ_j exp(s·x_j). */
    record RowStats(float max, int argmax, double lse, double lseScaled) {}

    /**
     * The statistics of the n values at {@code x[offset…]}: −∞ entries add nothing, and a row of only −∞ has
     * max −∞, argmax 0 and both log-sum-exps −∞. {@code lse} is computed only when {@code withLse} (else NaN);
     * with s = 1 {@code lseScaled} equals {@code lse}.
     */
    RowStats rowStats(int n, double s, boolean withLse, MemorySegment x, long offset);

    /**
     * One row's divergence between p_j = exp(s·y_j − lseP) and q_j = exp(s·z_j − lseQ) ({@link KdTerm}): returns
     * D = Σ_j f(p_j, q_j) in {@code sums[0]} and, when {@code writeH}, H = Σ_j h_j in {@code sums[1]} with each
     * h_j = q_j·∂f/∂q_j written over y_j.
     */
    void kdTerms(KdTerm term, double beta, int n, double s, MemorySegment y, long yOffset, double lseP,
                 MemorySegment z, long zOffset, double lseQ, boolean writeH, double[] sums);

    /**
     * One KD row's logit gradient, written over z:
     * <pre>
     *   dz_j = scale·[ceWeight·(exp(z_j − lse) − [j = target]) + kdWeight·(h_j + hRest·exp(s·z_j − lseRest) − hSum·q_j)]
     * </pre>
     * with q_j = exp(s·z_j − lseQ), h_j read from {@code h} (0 when h is null) and the rest term only when
     * lseRest &gt; −∞ (the top-k rest bucket: every token as if in it; the caller then rewrites its top-k tokens).
     */
    void kdGradient(int n, MemorySegment z, long zOffset, double lse, double s, double lseQ, int target, double scale,
                    double ceWeight, double kdWeight, MemorySegment h, long hOffset, double hSum, double hRest, double lseRest);
}
