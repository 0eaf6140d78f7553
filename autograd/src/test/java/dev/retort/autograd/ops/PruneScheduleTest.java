package dev.retort.autograd.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

/** {@link PruneSchedule}: the keep ratio's stages and σ's linear decay, step by step. */
class PruneScheduleTest {

    @Test
    void defaultKeepRatioStepsFromNinetyToFiftyPercentByTenths() {
        PruneSchedule schedule = PruneSchedule.defaults(1000);
        double[] expected = {0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5};
        long[] steps = {0, 99, 100, 250, 399, 400, 700, 5000};
        for (int i = 0; i < steps.length; i++) assertEquals(expected[i], schedule.keepRatio(steps[i]), 1e-12, "step " + steps[i]);
        assertEquals(0.5, schedule.keepRatio(400), 0, "exactly the target, not 0.9 − 4·0.1 in floating point");
        assertEquals(0.9, PruneSchedule.defaults(5).keepRatio(0), 0, "a run shorter than 10 steps: one step per stage");
        assertEquals(0.5, PruneSchedule.defaults(5).keepRatio(4), 0);
    }

    @Test
    void sigmaIsConstantOrDecaysLinearlyToZero() {
        PruneSchedule schedule = PruneSchedule.defaults(1000);
        assertEquals(PerturbedTopK.DEFAULT_SIGMA, schedule.sigma(999), 0, "no decay by default");
        PruneSchedule decayed = schedule.withSigmaDecay(200);
        assertEquals(0.1, decayed.sigma(0), 1e-15);
        assertEquals(0.05, decayed.sigma(100), 1e-15);
        assertEquals(0.0, decayed.sigma(200), 0);
        assertEquals(0.0, decayed.sigma(300), 0);
        assertEquals(0.5, decayed.keepRatio(400), 0, "the keep ratio is unchanged by the decay");
    }

    @Test
    void constantScheduleAndInvalidArguments() {
        PruneSchedule constant = PruneSchedule.constant(0.2, 0.3);
        assertEquals(0.3, constant.keepRatio(0), 0);
        assertEquals(0.3, constant.keepRatio(12345), 0);
        assertEquals(0.2, constant.sigma(12345), 0);
        assertThrows(IllegalArgumentException.class, () -> new PruneSchedule(0.1, 0, 0.4, 0.5, 0.1, 10), "target above start");
        assertThrows(IllegalArgumentException.class, () -> new PruneSchedule(-0.1, 0, 0.9, 0.5, 0.1, 10), "negative σ");
        assertThrows(IllegalArgumentException.class, () -> new PruneSchedule(0.1, 0, 0.9, 0.5, 0.1, 0), "zero steps per stage");
    }
}
