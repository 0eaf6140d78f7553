package dev.retort.distill.bench;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.SftObjective;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.Lora;
import dev.retort.models.lora.LoraConfig;
import dev.retort.models.lora.LoraModel;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code retort bench train}: one training (or forward) step of a Llama with random weights on random tokens,
 * the step of {@code tools/torch-train-bench.py}, built from the same objectives, LoRA and optimizer the
 * methods use:
 * <ul>
 *   <li>{@code train}: forward + cross-entropy + backward + AdamW over every parameter ({@link SftObjective});
 *   <li>{@code fwd}: forward to logits without gradients;
 *   <li>{@code lora-kd}: a frozen teacher of the same width with twice the layers runs without gradients; the
 *       student trains LoRA adapters of a frozen base on (1 − α)·CE + α·T²·D ({@link KdObjective}), AdamW over
 *       the adapters — the {@code neo} step.
 * </ul>
 */
public final class TrainStepBench {
    private TrainStepBench() {}

    /** The modes, as {@code --mode} takes them. */
    public static final List<String> MODES = List.of("train", "fwd", "lora-kd");

    /** One measured run: median seconds per step, and the buffer pool's activation peak. */
    public record Result(double secondsPerStep, long peakActivationBytes) {}

    /**
     * Times {@code steps} steps (after two warm-up steps) of {@code mode} for a student of shape {@code student}
     * (its teacher, for lora-kd, has {@code teacherLayers} layers), batch × seq random tokens.
     */
    public static Result run(String mode, LlamaConfig student, int teacherLayers, int batch, int seq, KdConfig kd,
                             LoraConfig lora, int steps) {
        if (!MODES.contains(mode)) throw new IllegalArgumentException("--mode must be train, fwd or lora-kd, got '" + mode + "'");
        SplittableRandom random = new SplittableRandom(0);
        int n = batch * seq, vocab = student.vocabSize();
        int[] tokens = new int[n], targets = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = random.nextInt(vocab);
            targets[i] = random.nextInt(vocab);
        }
        Batch b = new Batch(tokens, targets, batch, seq, new int[batch]);
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.random(student, arena, 0);
            Runnable step = switch (mode) {
                case "fwd" -> () -> {
                    try (Graph g = Graph.noGrad(pool)) {
                        model.logits(g, tokens, batch, seq);
                    }
                };
                case "train" -> trainingStep(new SftObjective(model),
                        List.of(ParamGroup.of(model.trainableParameters(), 0)), b, pool);
                default -> {
                    LlamaModel teacher = LlamaModel.random(student.withLayers(teacherLayers), arena, 1);
                    teacher.freeze();
                    LoraModel adapters = Lora.attach(model, lora);
                    yield trainingStep(KdObjective.live(model, teacher, kd), adapters.paramGroups(0, 1), b, pool);
                }
            };
            double seconds = Measure.medianStepSeconds(step, steps);
            return new Result(seconds, pool.peakBytesInUse());
        }
    }

    /** zero grads, loss, backward, AdamW step. */
    private static Runnable trainingStep(Objective objective, List<ParamGroup> groups, Batch batch, BufferPool pool) {
        Optimizer optimizer = TrainingConfig.DEFAULTS.optimizer(groups);
        return () -> {
            optimizer.zeroGrad();
            try (Graph g = Graph.withGrad(pool)) {
                objective.loss(g, batch, batch.targetCount(), 0).loss().backward();
            }
            optimizer.step();
        };
    }
}
