package dev.retort.distill.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.autograd.optim.RmsProp;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The student's optimizer as a setting: chosen by name, everything else kept. */
class TrainingConfigTest {
    @Test
    void withOptimizerChangesOnlyTheOptimizer() {
        TrainingConfig base = TrainingConfig.DEFAULTS.withSteps(10, 4, 1e-3, 1e-4, 1).withSeed(7);
        TrainingConfig rms = base.withOptimizer("RMSprop");
        assertEquals("rmsprop", rms.optimizer());
        assertEquals(base.describeAdjustable(), rms.describeAdjustable());
        assertEquals(base.describeFixed().replace("optimizer adamw", "optimizer rmsprop"), rms.describeFixed());
        List<ParamGroup> groups = List.of(ParamGroup.of(List.of(new Parameter("w", Tensor.zeros(Arena.ofAuto(), DType.F32, 2), true)), 0));
        assertInstanceOf(RmsProp.class, rms.optimizer(groups));
        assertInstanceOf(AdamW.class, rms.withOptimizer("adamw").optimizer(groups));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> base.withOptimizer("sgd"));
        assertEquals("--optimizer must be adamw or rmsprop, got 'sgd'", e.getMessage());
    }
}
