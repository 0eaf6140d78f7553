package dev.retort.distill.progressive;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.retort.autograd.Parameter;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/** Which adapters each phase trains: lower, upper and all, and the stages of progressive unfreezing. */
class UnfreezeStagesTest {
    /** Two adapter tensors per layer of a {@code layers}-layer student, named as LoRA names them. */
    private static List<Parameter> adapters(Arena arena, int layers) {
        List<Parameter> out = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            for (String m : List.of("q_proj.lora_A", "down_proj.lora_B")) {
                out.add(new Parameter("base_model.model.model.layers." + l + ".self_attn." + m + ".weight", Tensor.of(arena, new float[1], 1), true));
            }
        }
        return out;
    }

    private static List<Integer> layers(List<Parameter> params) {
        return new ArrayList<>(new TreeSet<>(params.stream().map(ProgressiveMethod::layerOf).toList()));
    }

    @Test
    void lowerUpperAndAllSplitAtTheMiddleLayer() {
        try (Arena arena = Arena.ofConfined()) {
            List<Parameter> five = adapters(arena, 5);
            assertEquals(List.of(0, 1, 2), layers(ProgressiveMethod.select(five, "lower", 5)));
            assertEquals(List.of(3, 4), layers(ProgressiveMethod.select(five, "upper", 5)));
            assertEquals(10, ProgressiveMethod.select(five, "all", 5).size());
        }
    }

    @Test
    void unfreezingSwitchesLayersOnFromTheBottomAndKeepsThoseAlreadyOn() {
        try (Arena arena = Arena.ofConfined()) {
            List<Parameter> five = adapters(arena, 5);
            List<List<Parameter>> lower = ProgressiveMethod.stages(ProgressiveMethod.select(five, "lower", 5), Set.of(), 30);
            assertEquals(List.of(List.of(0), List.of(0, 1), List.of(0, 1, 2)), lower.stream().map(UnfreezeStagesTest::layers).toList());
            // after the lower phase, an all-layers phase starts with 0-2 on and switches 3 and then 4 on
            List<List<Parameter>> all = ProgressiveMethod.stages(five, Set.of(0, 1, 2), 30);
            assertEquals(List.of(List.of(0, 1, 2, 3), List.of(0, 1, 2, 3, 4)), all.stream().map(UnfreezeStagesTest::layers).toList());
            // nothing new: one stage; fewer steps than layers: one stage per step, the last with everything
            assertEquals(1, ProgressiveMethod.stages(five, Set.of(0, 1, 2, 3, 4), 30).size());
            assertEquals(List.of(List.of(0), List.of(0, 1, 2, 3, 4)),
                    ProgressiveMethod.stages(five, Set.of(), 2).stream().map(UnfreezeStagesTest::layers).toList());
        }
    }
}
