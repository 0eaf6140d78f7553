package dev.retort.distill.demo;

import dev.retort.distill.data.PackedData;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.SftObjective;
import dev.retort.distill.train.Trainer;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;

/**
 * A teacher for the generated tasks: a Llama trained from scratch with cross-entropy on packed text (AdamW, lr 3e-3
 * to 3e-4 with a 5% warm-up), then saved in HF layout with its tokenizer, as any other model Retort reads.
 */
public final class ScratchTeacher {
    /** The teacher's shape; {@code maxPositions} bounds the sequences it can read. */
    public record Shape(int dim, int layers, int heads, int kvHeads, int hidden, int maxPositions) {
        LlamaConfig config(int vocab) {
            return new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, vocab, maxPositions, 1e-5, 10000.0, null, true,
                    1, List.of(2), false, false, DType.F32);
        }
    }

    private ScratchTeacher() {}

    /**
     * Trains {@code steps} steps of {@code batch} rows of {@code train} (held-out loss every {@code evalEvery} steps, 0 =
     * at the end only), logging to {@code runDir}, and saves the model with the tokenizer of {@code tokenizerDir} in
     * {@code outDir}; returns what training cost.
     */
    public static ResourceUse train(PackedData train, PackedData heldOut, int vocab, Shape shape, int steps, int batch, long seed,
                                    int evalEvery, Path tokenizerDir, Path runDir, Path outDir, String label) throws IOException {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel teacher = LlamaModel.random(shape.config(vocab), arena, seed);
            TrainingConfig tc = TrainingConfig.DEFAULTS.withSteps(steps, batch, 3e-3, 3e-4, steps / 20)
                    .withSeed(seed).withEvaluation(evalEvery, 4, 0);
            Phase sft = Phase.standard("sft", new SftObjective(teacher), teacher.trainableParameters(), tc, train);
            Trainer.Result r = new Trainer(tc, Plan.of(sft, null), teacher, null, heldOut, label, new OutputOptions(runDir, false, true)).run(false);
            ModelExporter.save(teacher, null, tokenizerDir, outDir, DType.F32);
            return r.resources();
        }
    }
}
