package dev.retort.tensor;

import java.lang.foreign.Arena;

/**
 * The cos and sin tables the RoPE kernel reads: F32 [maxPositions × headDim/2], entry (p, i) = cos/sin of
 * p·ω_i with inverse frequency ω_i = θ^(−2i/headDim), optionally rescaled as Llama 3.1 does for long contexts.
 * Angles are computed in double and rounded once to float, with {@link StrictMath} so that the tables are
 * the same bits on every JVM and whether or not the JIT has compiled this code ({@code Math.sin} may differ). Each table is its own allocation starting at
 * element 0, as {@link dev.retort.tensor.kernels.Elementwise#rope} expects of {@code cos.segment()}.
 */
public record RopeTables(Tensor cos, Tensor sin, int maxPositions, int headDim) {

    /**
     * Llama 3 frequency scaling (config.json's {@code rope_scaling} with {@code rope_type: "llama3"}). With
     * wavelength λ_i = 2π/ω_i and the original context N = originalMaxPositions:
     * <ul>
     *   <li>λ_i > N/lowFreqFactor (slow rotations, long wavelengths): ω_i / factor;
     *   <li>λ_i &lt; N/highFreqFactor (fast rotations): ω_i unchanged;
     *   <li>in between: (1 − s)·ω_i/factor + s·ω_i with s = (N/λ_i − lowFreqFactor)/(highFreqFactor − lowFreqFactor),
     *       which runs from 0 at the long end to 1 at the short end, so the result is continuous.
     * </ul>
     */
    public record Llama3Scaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        public Llama3Scaling {
            if (!(factor > 0)) throw new IllegalArgumentException("rope_scaling factor must be > 0, got " + factor);
            if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)) {
                throw new IllegalArgumentException("rope_scaling needs 0 < low_freq_factor < high_freq_factor, got "
                        + lowFreqFactor + " and " + highFreqFactor);
            }
            if (originalMaxPositions <= 0) {
                throw new IllegalArgumentException("original_max_position_embeddings must be > 0, got "
                        + originalMaxPositions);
            }
        }

        /** The scaled inverse frequency for an unscaled one. */
        public double scale(double inverseFrequency) {
            double wavelength = 2 * Math.PI / inverseFrequency;
            double lowFreqWavelength = originalMaxPositions / lowFreqFactor;
            double highFreqWavelength = originalMaxPositions / highFreqFactor;
            if (wavelength > lowFreqWavelength) return inverseFrequency / factor;
            if (wavelength < highFreqWavelength) return inverseFrequency;
            double smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            return (1 - smooth) * inverseFrequency / factor + smooth * inverseFrequency;
        }
    }

    /** ω_i = θ^(−2i/headDim) for i in [0, headDim/2), scaled when {@code scaling} is not null. */
    public static double[] inverseFrequencies(int headDim, double theta, Llama3Scaling scaling) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("headDim must be positive and even, got " + headDim);
        }
        if (!(theta > 1)) throw new IllegalArgumentException("rope theta must be > 1, got " + theta);
        double[] frequencies = new double[headDim / 2];
        for (int i = 0; i < frequencies.length; i++) {
            double omega = StrictMath.pow(theta, -2.0 * i / headDim);
            frequencies[i] = scaling == null ? omega : scaling.scale(omega);
        }
        return frequencies;
    }

    /** Builds both tables in {@code arena}. {@code scaling} may be null (no rope_scaling). */
    public static RopeTables create(Arena arena, int maxPositions, int headDim, double theta, Llama3Scaling scaling) {
        if (maxPositions <= 0) throw new IllegalArgumentException("maxPositions must be > 0, got " + maxPositions);
        double[] frequencies = inverseFrequencies(headDim, theta, scaling);
        int half = headDim / 2;
        float[] cos = new float[Math.multiplyExact(maxPositions, half)];
        float[] sin = new float[cos.length];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * frequencies[i];
                cos[p * half + i] = (float) StrictMath.cos(angle);
                sin[p * half + i] = (float) StrictMath.sin(angle);
            }
        }
        return new RopeTables(Tensor.of(arena, cos, maxPositions, half), Tensor.of(arena, sin, maxPositions, half),
                maxPositions, headDim);
    }
}
