package dev.retort.distill.loss;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * The textbook behaviour of the two KL directions ({@link BimodalToy}): forward KL spreads a single-peaked student
 * over the teacher's two modes, matching its mean and spread; reverse KL settles it on the nearer mode.
 */
class ModeSeekingTest {
    @Test
    void forwardKlCoversBothModesAndReverseKlLocksOntoOne() {
        double[] p = BimodalToy.teacher();
        double mean = 0, var = 0;
        for (int j = 0; j < BimodalToy.V; j++) mean += j * p[j];
        for (int j = 0; j < BimodalToy.V; j++) var += (j - mean) * (j - mean) * p[j];
        BimodalToy.Fit fkl = BimodalToy.fit(new KdConfig(Divergence.FKL, 1, 1, 0, 0));
        BimodalToy.Fit rkl = BimodalToy.fit(new KdConfig(Divergence.RKL, 1, 1, 0, 0));
        String both = String.format(Locale.ROOT, "teacher mean %.2f, std %.2f; FKL %s; RKL %s", mean, Math.sqrt(var), fkl, rkl);
        double a = BimodalToy.MODE_A, b = BimodalToy.MODE_B;
        // FKL: moment matching, so the student sits between the modes, wide enough to cover both
        assertTrue(Math.abs(fkl.mu() - mean) < 1, "FKL should centre on the teacher's mean: " + both);
        assertTrue(Math.abs(fkl.sigma() / Math.sqrt(var) - 1) < 0.05, "FKL should match the teacher's spread: " + both);
        assertTrue(fkl.massNear(a) > 0.1 && fkl.massNear(b) > 0.1, "FKL should cover both modes: " + both);
        // RKL: the student settles on the nearer mode with that mode's width and leaves the other one empty
        assertTrue(Math.abs(rkl.mu() - a) < 0.5, "RKL should lock onto the mode at " + a + ": " + both);
        assertTrue(Math.abs(rkl.sigma() / BimodalToy.MODE_WIDTH - 1) < 0.1, "RKL should take one mode's width: " + both);
        assertTrue(rkl.massNear(a) > 0.8 && rkl.massNear(b) < 1e-6, "RKL should put its mass on one mode: " + both);
    }
}
