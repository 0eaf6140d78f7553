package dev.retort.distill.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.lora.LoraConfig;
import dev.retort.tensor.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The FLOP counts behind bench train's MFU line, at the stories15M shape, against sums worked out by hand. */
class StepFlopsTest {
    /** dim 288, 6 layers, 6 heads of 48, hidden 768, vocab 32000, tied. */
    private static final LlamaConfig STORIES15M = new LlamaConfig(288, 768, 6, 6, 6, 48, 32000, 256, 1e-5, 10000.0,
            null, true, 1, List.of(2), false, false, DType.F32);

    @Test
    void trainingStepOfStories15MIsTheDocumented93Point8MegaflopsPerToken() {
        // weights: 6 · (4 · 288² + 3 · 288 · 768) + 32000 · 288 = 15,187,968; attention 2 · 6 · 256 · 288 = 884,736
        assertEquals(15_187_968, StepFlops.matmulWeights(STORIES15M));
        assertEquals(3 * (2 * 15_187_968.0 + 884_736), StepFlops.perToken("train", STORIES15M, 12, null, 256));
        assertEquals(93.8, StepFlops.perToken("train", STORIES15M, 12, null, 256) / 1e6, 0.05);
        assertEquals(2 * 15_187_968.0 + 884_736, StepFlops.perToken("fwd", STORIES15M, 12, null, 256));
    }

    @Test
    void loraKdStepCountsTeacherForwardStudentInputGradientsAndAdapters() {
        LoraConfig lora = LoraConfig.of(16, 32, LoraConfig.LLAMA_MODULES.toArray(String[]::new));
        // adapters per layer: 4 · 16 · (288 + 288) + 3 · 16 · (288 + 768) = 87,552; six layers 525,312
        assertEquals(525_312, StepFlops.adapterWeights(STORIES15M, lora));
        double teacher = 2 * (12 * 995_328.0 + 9_216_000) + 2.0 * 12 * 256 * 288;
        double student = 4 * 15_187_968.0 + 3 * 884_736.0 + 6 * 525_312.0;
        assertEquals(teacher + student, StepFlops.perToken("lora-kd", STORIES15M, 12, lora, 256));
    }
}
