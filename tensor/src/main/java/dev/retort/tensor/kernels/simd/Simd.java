package dev.retort.tensor.kernels.simd;

import dev.retort.tensor.kernels.WidthClassLoader;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector width every class in this package compiles for. These are {@code static final}, so the JIT sees
 * them as constants and emits straight SIMD code. The width is the CPU's preferred one, unless this copy of the
 * package was loaded by a {@link WidthClassLoader} (tests, benchmarks) or {@code -Dretort.vector.bits} is set.
 */
final class Simd {
    private Simd() {}

    /** Vector width in bits: 64, 128, 256 or 512. */
    static final int BITS = chooseBits();

    /** F32 lanes: {@code F.length()} floats per vector. */
    static final VectorSpecies<Float> F = VectorSpecies.of(float.class, VectorShape.forBitSize(BITS));
    /** Int lanes of the same count as {@link #F} (same width). */
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, VectorShape.forBitSize(BITS));
    /**
     * Short lanes of the same width as {@link #F}: twice as many lanes, so one load of 16-bit values covers two
     * F32 vectors. (Use {@code convertShape(S2I, I, part)} to widen part 0 or 1.)
     */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(BITS));

    /** F32 lanes per vector. */
    static final int L = F.length();
    /**
     * The swaps of the lane-sum butterfly (lane i ↔ i ^ h), null where h is not below L. Hot loops that C2 will
     * not inline {@link #sumLanes} into write its steps out with these.
     */
    static final VectorShuffle<Float> SWAP_1 = swap(1), SWAP_2 = swap(2), SWAP_4 = swap(4), SWAP_8 = swap(8);

    private static VectorShuffle<Float> swap(int h) {
        return h < L ? VectorShuffle.fromOp(F, i -> i ^ h) : null;
    }

    /**
     * The sum of all lanes in a fixed butterfly order: v + (v with lanes i ↔ i ^ h) for h = L/2 … 1, then lane 0
     * (L is a constant, so the dead steps fold away). Never {@code reduceLanes(ADD)} where results must be
     * reproducible: the API leaves its order open, and the interpreter and compiled code were seen to round it
     * differently (a matvec changed in the last bit once its loop was compiled).
     */
    static float sumLanes(FloatVector v) {
        if (L > 8) v = v.add(v.rearrange(SWAP_8));
        if (L > 4) v = v.add(v.rearrange(SWAP_4));
        if (L > 2) v = v.add(v.rearrange(SWAP_2));
        v = v.add(v.rearrange(SWAP_1));
        return v.lane(0);
    }

    private static int chooseBits() {
        if (Simd.class.getClassLoader() instanceof WidthClassLoader loader) return loader.bits();
        String property = System.getProperty("retort.vector.bits");
        if (property != null && !property.isBlank()) return Integer.parseInt(property.trim());
        return FloatVector.SPECIES_PREFERRED.vectorBitSize();
    }
}
