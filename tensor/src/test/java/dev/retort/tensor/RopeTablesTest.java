package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.RopeTables.Llama3Scaling;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** The RoPE cos/sin tables, plain and with Llama 3 frequency scaling. */
class RopeTablesTest {
    private static final Arena ARENA = Arena.ofAuto();
    /** Llama 3.1 / 3.2's published rope_scaling. */
    private static final Llama3Scaling LLAMA_31 = new Llama3Scaling(8.0, 1.0, 4.0, 8192);

    @Test
    void tablesMatchADirectDoubleComputation() {
        int maxPos = 300, headDim = 64;
        double theta = 500_000;
        RopeTables t = RopeTables.create(ARENA, maxPos, headDim, theta, null);
        assertArrayEquals(new int[] {maxPos, headDim / 2}, t.cos().shape());
        assertArrayEquals(new int[] {maxPos, headDim / 2}, t.sin().shape());
        for (int p = 0; p < maxPos; p++) {
            for (int i = 0; i < headDim / 2; i++) {
                double angle = p / Math.pow(theta, (2.0 * i) / headDim);
                // Rounded once from double: within half a float ulp of the double value, plus 1e-12 for the angle
                // itself (the two double computations of p·ω may differ by ~p·1e-16 rad).
                float c = t.cos().get(p, i), s = t.sin().get(p, i);
                double cosExact = Math.cos(angle), sinExact = Math.sin(angle);
                if (Math.abs(c - cosExact) > Math.ulp((float) cosExact) / 2 + 1e-12
                        || Math.abs(s - sinExact) > Math.ulp((float) sinExact) / 2 + 1e-12) {
                    fail("position " + p + " frequency " + i + ": cos " + c + " vs " + cosExact + ", sin " + s + " vs " + sinExact);
                }
            }
        }
    }

    @Test
    void handCheckedValues() {
        // headDim 4, θ = 10000: ω = 1 and 10000^(−1/2) = 0.01.
        double[] omega = RopeTables.inverseFrequencies(4, 10_000, null);
        assertEquals(1.0, omega[0], 0);
        assertEquals(0.01, omega[1], 1e-17);
        RopeTables t = RopeTables.create(ARENA, 3, 4, 10_000, null);
        assertEquals(1f, t.cos().get(0, 0));
        assertEquals(0f, t.sin().get(0, 1));
        assertEquals((float) Math.cos(2.0), t.cos().get(2, 0));       // position 2, ω = 1: angle 2 rad
        assertEquals((float) Math.sin(0.02), t.sin().get(2, 1));      // position 2, ω = 0.01: angle 0.02 rad
        assertEquals(-0.41614684f, t.cos().get(2, 0), 1e-7f);         // cos 2 by hand
    }

    @Test
    void llama3ScalingKeepsHighFrequenciesDividesLowOnesAndInterpolatesBetween() {
        int headDim = 128;
        double theta = 500_000;
        double[] plain = RopeTables.inverseFrequencies(headDim, theta, null);
        double[] scaled = RopeTables.inverseFrequencies(headDim, theta, LLAMA_31);
        double lowFreqWavelength = 8192 / 1.0, highFreqWavelength = 8192 / 4.0;
        int kept = 0, divided = 0, interpolated = 0;
        for (int i = 0; i < plain.length; i++) {
            double wavelength = 2 * Math.PI / plain[i];
            if (wavelength < highFreqWavelength) {
                assertEquals(plain[i], scaled[i], 0, "frequency " + i + " (wavelength " + wavelength + ") is kept");
                kept++;
            } else if (wavelength > lowFreqWavelength) {
                assertEquals(plain[i] / 8, scaled[i], 1e-18, "frequency " + i + " (wavelength " + wavelength + ") is divided");
                divided++;
            } else {
                double s = (8192 / wavelength - 1.0) / (4.0 - 1.0);
                assertEquals((1 - s) * plain[i] / 8 + s * plain[i], scaled[i], 1e-15 * plain[i], "frequency " + i);
                // Interpolated values lie between the divided and the kept frequency.
                if (!(scaled[i] >= plain[i] / 8 && scaled[i] <= plain[i])) fail("frequency " + i + " out of range");
                interpolated++;
            }
        }
        // With θ = 500000 and headDim 128 all three regimes occur.
        if (kept == 0 || divided == 0 || interpolated == 0) {
            fail("expected all three regimes, got kept " + kept + ", divided " + divided + ", interpolated " + interpolated);
        }
        // Hand-checked: i = 0 has ω = 1 (wavelength 2π, far below 2048): unchanged. The last frequency
        // ω = 500000^(−126/128) ≈ 2.4e-6 has wavelength ≈ 2.6e6 > 8192: divided by 8.
        assertEquals(1.0, scaled[0], 0);
        double last = Math.pow(500_000, -126.0 / 128);
        assertEquals(last / 8, scaled[63], 1e-20);
        // The scaled tables use the scaled frequencies.
        RopeTables t = RopeTables.create(ARENA, 10, headDim, theta, LLAMA_31);
        assertEquals((float) Math.cos(9 * scaled[63]), t.cos().get(9, 63));
        assertEquals((float) Math.sin(9 * scaled[40]), t.sin().get(9, 40));
    }

    @Test
    void scalingIsContinuousAtBothWavelengthBoundaries() {
        Llama3Scaling s = LLAMA_31;
        double atLow = 2 * Math.PI / (8192 / 1.0), atHigh = 2 * Math.PI / (8192 / 4.0);  // ω at the two boundaries
        assertEquals(atLow / 8, s.scale(atLow), 1e-12 * atLow);
        assertEquals(atLow / 8, s.scale(atLow * (1 + 1e-12)), 1e-9 * atLow);
        assertEquals(atHigh, s.scale(atHigh), 1e-12 * atHigh);
        assertEquals(atHigh, s.scale(atHigh * (1 - 1e-12)), 1e-9 * atHigh);
    }

    @Test
    void badArgumentsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> RopeTables.create(ARENA, 4, 5, 10_000, null));
        assertThrows(IllegalArgumentException.class, () -> RopeTables.create(ARENA, 0, 4, 10_000, null));
        assertThrows(IllegalArgumentException.class, () -> new Llama3Scaling(8, 4, 1, 8192));
        assertThrows(IllegalArgumentException.class, () -> new Llama3Scaling(0, 1, 4, 8192));
    }
}
