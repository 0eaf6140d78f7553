package dev.retort.distill.bench;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.data.Example;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.DenseTeacher;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.method.GeneratedBatches;
import dev.retort.distill.train.KdObjective;
import dev.retort.models.Sampling;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code retort bench gkd}: the on-policy step of {@code --method gkd} (λ = 1) on random models — the step of
 * {@code tools/trl/gkd_step_bench.py} — split into its three parts: the student samples a response to each of B
 * prompts ({@link GeneratedBatches}, batched KV-cache generation), the teacher scores prompt + response without
 * gradients, and the student updates on the generalised JSD (forward, loss, backward, AdamW).
 */
public final class GkdStepBench {
    private GkdStepBench() {}

    /** Median seconds of each part of a step, and the tokens generated per step. */
    public record Result(double generation, double teacherScoring, double studentUpdate, long generatedTokens) {
        public double step() {
            return generation + teacherScoring + studentUpdate;
        }
    }

    public static Result run(LlamaConfig teacherShape, int studentLayers, int batch, int promptTokens, int newTokens, int steps) {
        int vocab = teacherShape.vocabSize(), seq = promptTokens + newTokens;
        SplittableRandom random = new SplittableRandom(0);
        List<Example> prompts = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            int[] tokens = new int[promptTokens + 1];
            boolean[] target = new boolean[tokens.length];
            for (int t = 0; t < tokens.length; t++) tokens[t] = 3 + random.nextInt(vocab - 3);
            target[promptTokens] = true;   // a one-token "dataset response"; the student writes its own
            prompts.add(new Example(tokens, target));
        }
        PackedData rows = PackedData.perExample(prompts, seq, 0);
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel teacher = LlamaModel.random(teacherShape, arena, 1);
            teacher.freeze();
            LlamaModel student = LlamaModel.random(teacherShape.withLayers(studentLayers), arena, 2);
            GeneratedBatches batches = new GeneratedBatches(BatchSource.of(rows, batch, 0), rows, student, null, -1,
                    1, new Sampling(newTokens, 1f, 0, 1, 0), 0);
            KdConfig kd = new KdConfig(Divergence.GJSD, 1, 1, 0.5, 0);
            KdObjective objective = KdObjective.live(student, teacher, kd);
            AdamW optimizer = new AdamW(List.of(ParamGroup.of(student.trainableParameters(), 0)), 1e-4);
            int total = steps + 2;   // two warm-up steps
            double[] gen = new double[steps], scoring = new double[steps], update = new double[steps];
            long tokens = 0;
            for (int i = 0; i < total; i++) {
                double before = batches.generationSeconds();
                Batch b = batches.batch(i);
                double g = batches.generationSeconds() - before;
                long t0 = System.nanoTime();
                try (Graph tg = Graph.noGrad(pool)) {
                    DenseTeacher.of(teacher.hidden(tg, b.inputs(), b.batch(), b.seq(), null), teacher.lmHead(), 0);
                }
                long t1 = System.nanoTime();
                optimizer.zeroGrad();
                try (Graph graph = Graph.withGrad(pool)) {
                    objective.loss(graph, b, b.targetCount(), i).loss().backward();
                }
                optimizer.step();
                long t2 = System.nanoTime();
                if (i >= 2) {
                    double teacherSeconds = (t1 - t0) / 1e9;
                    gen[i - 2] = g;
                    scoring[i - 2] = teacherSeconds;
                    update[i - 2] = Math.max(0, (t2 - t1) / 1e9 - teacherSeconds);   // the objective runs the teacher again
                    tokens = b.targetCount();
                }
            }
            return new Result(Measure.median(gen), Measure.median(scoring), Measure.median(update), tokens);
        }
    }
}
