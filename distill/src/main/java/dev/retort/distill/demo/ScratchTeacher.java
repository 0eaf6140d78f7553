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
import java.util.ArrayList;
import java.util.List;

/**
 * A teacher for the generated tasks: a Llama trained from scratch with cross-entropy on packed text (AdamW, by default
 * lr 3e-3 to 3e-4 with a 5% warm-up), then saved in HF layout with its tokenizer, as any other model Retort reads. A
 * teacher may also train in {@link Stage stages}, each on its own rows with a fresh cosine schedule, one after another
 * (a curriculum: read one passage, then find it among distractors).
 */
public final class ScratchTeacher {
    /** The learning rate every generated task's teacher trains at unless it names its own stages. */
    public static final double DEFAULT_LR = 3e-3;

    /** The teacher's shape; {@code maxPositions} bounds the sequences it can read. */
    public record Shape(int dim, int layers, int heads, int kvHeads, int hidden, int maxPositions) {
        LlamaConfig config(int vocab) {
            return new LlamaConfig(dim, hidden, layers, heads, kvHeads, dim / heads, vocab, maxPositions, 1e-5, 10000.0, null, true,
                    1, List.of(2), false, false, DType.F32);
        }
    }

    /** One stage of training: {@code steps} steps over {@code rows}, lr {@code lr} decayed to a tenth by cosine after a 5% warm-up. */
    public record Stage(String name, PackedData rows, int steps, double lr) {
        public Stage {
            if (steps < 1) throw new IllegalArgumentException("stage " + name + ": steps must be at least 1, got " + steps);
            if (!(lr > 0)) throw new IllegalArgumentException("stage " + name + ": lr must be positive, got " + lr);
        }

        TrainingConfig config(int batch, long seed, int evalEvery) {
            return TrainingConfig.DEFAULTS.withSteps(steps, batch, lr, lr / 10, steps / 20).withSeed(seed).withEvaluation(evalEvery, 4, 0);
        }
    }

    private ScratchTeacher() {}

    /**
     * Trains {@code steps} steps of {@code batch} rows of {@code train} at the default lr (held-out loss every
     * {@code evalEvery} steps, 0 = at the end only), logging to {@code runDir}, and saves the model with the tokenizer
     * of {@code tokenizerDir} in {@code outDir}; returns what training cost.
     */
    public static ResourceUse train(PackedData train, PackedData heldOut, int vocab, Shape shape, int steps, int batch, long seed,
                                    int evalEvery, Path tokenizerDir, Path runDir, Path outDir, String label) throws IOException {
        return train(List.of(new Stage("sft", train, steps, DEFAULT_LR)), heldOut, vocab, shape, batch, seed, evalEvery, tokenizerDir,
                runDir, outDir, label);
    }

    /** As {@link #train(PackedData, PackedData, int, Shape, int, int, long, int, Path, Path, Path, String)}, through {@code stages} in order. */
    public static ResourceUse train(List<Stage> stages, PackedData heldOut, int vocab, Shape shape, int batch, long seed,
                                    int evalEvery, Path tokenizerDir, Path runDir, Path outDir, String label) throws IOException {
        if (stages.isEmpty()) throw new IllegalArgumentException("a teacher needs at least one stage");
        try (Arena arena = Arena.ofShared()) {
            LlamaModel teacher = LlamaModel.random(shape.config(vocab), arena, seed);
            List<Phase> phases = new ArrayList<>();
            for (Stage stage : stages) {
                phases.add(Phase.standard(stage.name(), new SftObjective(teacher), teacher.trainableParameters(),
                        stage.config(batch, seed, evalEvery), stage.rows()));
            }
            TrainingConfig first = stages.getFirst().config(batch, seed, evalEvery);
            Trainer.Result r = new Trainer(first, new Plan(phases, null, List.of()), teacher, null, heldOut, label,
                    new OutputOptions(runDir, false, true)).run(false);
            ModelExporter.save(teacher, null, tokenizerDir, outDir, DType.F32);
            return r.resources();
        }
    }
}
