package dev.retort.distill.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.retort.distill.data.PackedData;
import dev.retort.distill.method.EarlyStop;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.options.OutputOptions;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A phase that ends early ({@link EarlyStop}, --phase-patience): it stops after its patience runs out, the next
 * phase keeps its step numbers, and a resume in the middle of a count picks the count up where it was.
 */
class PhasePatienceTest {
    @TempDir
    static Path shared;
    static PackedData train, heldOut;
    static int vocab;

    @BeforeAll
    static void corpus() throws Exception {
        TinyCorpus corpus = TinyCorpus.make(shared, 120);
        train = corpus.train();
        heldOut = corpus.heldOut();
        vocab = corpus.vocab();
    }

    /**
     * Two SFT phases of 10 and 3 steps; the first measures a held-out loss that never improves after its first
     * measurement, every step, patience 3: measurements at steps 1 (best), 2, 3, 4 (third miss) end it at step 4, and
     * the second phase takes steps 11 to 13.
     */
    private static Trainer trainer(LlamaModel model, Path out, long killAt) {
        TrainingConfig config = new TrainingConfig(13, 0, 4, 1, 1e-3, 1e-4, 0, 0.0, 1.0, "adamw", 7, 0, 2, 1);
        Objective sft = new SftObjective(model);
        Phase first = Phase.standard("first", killAt < 0 ? sft : new TrainerTest.Killing(sft, killAt), model.trainableParameters(),
                config.withSteps(10, 4, 1e-3, 1e-4, 0), train);
        first = new Phase(first.name(), first.objective(), first.trainable(), first.groups(), first.optimizer(), first.data(),
                first.steps(), first.schedule(), new EarlyStop(3, 1, pool -> 1.0));
        Phase second = Phase.standard("second", sft, model.trainableParameters(), config.withSteps(3, 4, 1e-3, 1e-4, 0), train);
        return new Trainer(config, new Plan(List.of(first, second), null, List.of()), model, null, heldOut, "patience",
                new OutputOptions(out, false, false));
    }

    private static LlamaConfig tiny() {
        return new LlamaConfig(32, 64, 2, 4, 2, 8, vocab, 64, 1e-5, 10000.0, null, true, 1, List.of(2), false, false, DType.F32);
    }

    private static List<Map<String, Object>> rows(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream().filter(r -> !r.containsKey("wall_s")).map(r -> {
            Map<String, Object> copy = new java.util.LinkedHashMap<>(r);
            copy.remove("tokens_per_s");
            return (Map<String, Object>) copy;
        }).toList();
    }

    @Test
    void aPhaseOutOfPatienceEndsAndAResumeKeepsTheCount(@TempDir Path straight, @TempDir Path interrupted) {
        try (Arena arena = Arena.ofShared()) {
            trainer(LlamaModel.random(tiny(), arena, 3), straight, -1).run(false);
            List<Map<String, Object>> rows = rows(straight);
            assertEquals("1,2,3,4,11,12,13", rows.stream().filter(r -> r.containsKey("loss")).map(r -> r.get("step").toString())
                    .collect(Collectors.joining(",")));
            assertEquals(List.of("first"), rows.stream().filter(r -> r.containsKey("phase_stopped")).map(r -> r.get("phase_stopped")).toList());

            // dies in step 3 (index 2) after the checkpoint of step 2 (best 1.0, one miss): the resumed run must stop at step 4 too
            assertThrows(IllegalStateException.class, () -> trainer(LlamaModel.random(tiny(), arena, 3), interrupted, 2).run(false));
            trainer(LlamaModel.random(tiny(), arena, 3), interrupted, -1).run(true);
            assertEquals(rows, rows(interrupted), "every line, interrupted and resumed vs straight");
        }
    }
}
