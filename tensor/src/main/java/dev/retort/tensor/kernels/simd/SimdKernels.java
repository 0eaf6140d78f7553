package dev.retort.tensor.kernels.simd;

import dev.retort.tensor.kernels.Kernels;

/** Builds the SIMD kernel set at this copy's width ({@link Simd#BITS}); called reflectively by {@link Kernels}. */
public final class SimdKernels {
    private SimdKernels() {}

    public static Kernels create() {
        return new Kernels("simd" + Simd.BITS, Simd.BITS, new SimdGemm(), new SimdElementwise(), new SimdAttention());
    }
}
