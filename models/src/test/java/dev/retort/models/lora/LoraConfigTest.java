package dev.retort.models.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class LoraConfigTest {

    @Test
    void scaleIsAlphaOverRankOrOverRootRankWithRsLora() {
        LoraConfig plain = LoraConfig.of(16, 32, "q_proj");
        assertEquals(2.0, plain.scale(), 0, "alpha/r");
        assertEquals(32 / 4.0, plain.withRsLora(true).scale(), 0, "alpha/√r with rsLoRA");
    }

    @Test
    void allLinearExpandsToEveryDecoderLinearAndDuplicatesCollapse() {
        assertEquals(LoraConfig.LLAMA_MODULES, LoraConfig.of(4, 8, "all-linear").targetModules());
        assertEquals(List.of("v_proj", "q_proj"), LoraConfig.of(4, 8, "v_proj", "q_proj", "v_proj").targetModules());
    }

    @Test
    void unknownTargetIsRejectedListingTheValidNames() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, 8, "lm_head"));
        assertTrue(e.getMessage().contains("'lm_head'") && e.getMessage().contains("[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]"),
                e.getMessage());
    }

    @Test
    void badNumbersAndEmptyTargetsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(0, 8, "q_proj"), "rank 0");
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, 0, "q_proj"), "alpha 0");
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, Double.NaN, "q_proj"), "alpha NaN");
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, 8, "q_proj").withDropout(1.0), "dropout 1");
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, 8, "q_proj").withDropout(-0.1), "dropout < 0");
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, 8), "no targets");
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(4, 8, "all-linear", "q_proj"), "all-linear + names");
    }
}
