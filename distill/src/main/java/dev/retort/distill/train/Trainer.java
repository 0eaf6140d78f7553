package dev.retort.distill.train;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.GradientClipping;
import dev.retort.autograd.optim.LrSchedule;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSchedule;
import dev.retort.distill.data.PackedData;
import dev.retort.models.llama.LlamaModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The training loop every method shares. One optimizer step:
 * <pre>
 *   lr ← schedule(step)
 *   for each of gradAccum micro-batches: loss = objective(batch) / (target tokens of all of them); backward
 *   stop if the loss or the gradient norm is not finite (the last good checkpoint stays)
 *   clip the global gradient norm; optimizer step
 *   log; every evalEvery steps evaluate on held-out rows; every checkpointEvery steps checkpoint
 * </pre>
 * Everything random is a function of (seed, step) — batch order, dropout — so {@code resume} continues with
 * bitwise the losses an uninterrupted run would have had.
 */
public final class Trainer {
    /** Thrown when the loss or gradients stop being finite. */
    public static final class DivergedException extends RuntimeException {
        DivergedException(String message) {
            super(message);
        }
    }

    /** What a finished run reports. */
    public record Result(long steps, double lastLoss, Evaluator.Result finalEval, double seconds, long tokens) {}

    private final TrainingConfig config;
    private final Objective objective;
    private final LlamaModel student;
    private final LlamaModel teacher;
    private final PackedData train;
    private final PackedData heldOut;
    private final String fingerprint;
    private final Function<List<dev.retort.autograd.optim.ParamGroup>, Optimizer> optimizerFactory;

    /**
     * @param teacherOrNull  used only for evaluation metrics (agreement, KL); the objective owns its own use of it
     * @param fingerprint    a description of every setting that changes the numbers; a checkpoint from a run
     *                       with another fingerprint is refused
     * @param optimizerFactory builds the optimizer from the objective's parameter groups (null: AdamW)
     */
    public Trainer(TrainingConfig config, Objective objective, LlamaModel student, LlamaModel teacherOrNull,
                   PackedData train, PackedData heldOut, String fingerprint,
                   Function<List<dev.retort.autograd.optim.ParamGroup>, Optimizer> optimizerFactory) {
        this.config = config;
        this.objective = objective;
        this.student = student;
        this.teacher = teacherOrNull;
        this.train = train;
        this.heldOut = heldOut;
        this.fingerprint = fingerprint;
        this.optimizerFactory = optimizerFactory != null ? optimizerFactory
                : groups -> new AdamW(groups, config.lr(), 0.9, 0.999, 1e-8);
    }

    public Result run(boolean resume) {
        Path out = config.out();
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot create the output directory: " + e.getMessage(), e);
        }
        Path checkpointFile = out.resolve(TrainingCheckpoint.FILE_NAME);
        MetricsLog metrics = new MetricsLog(out.resolve("metrics.jsonl"));
        List<Parameter> params = objective.trainable();
        if (params.isEmpty()) throw new IllegalStateException("the " + objective.name() + " objective has nothing to train");
        Optimizer optimizer = optimizerFactory.apply(objective.parameterGroups(config.weightDecay()));

        BatchSchedule schedule = new BatchSchedule(train.rows(), config.batchSize(), config.seed());
        long totalSteps = config.totalSteps(schedule.batchesPerEpoch());
        LrSchedule lr = LrSchedule.warmupCosine(config.lr(), config.warmupSteps(), totalSteps, config.minLr());

        long step = 0;
        if (resume) {
            step = TrainingCheckpoint.restore(checkpointFile, fingerprint, params, optimizer);
            metrics.truncateAfter(step);
            System.err.printf("resuming from step %d of %d (%s)%n", step, totalSteps, checkpointFile);
        } else {
            try {
                Files.deleteIfExists(metrics.file());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        ProgressBar progress = config.progress() ? new ProgressBar(System.err, totalSteps) : null;
        long tokensSeen = 0;
        double lastLoss = Double.NaN;
        long start = System.nanoTime();
        try (BufferPool pool = new BufferPool()) {
            while (step < totalSteps) {
                long stepStart = System.nanoTime();
                optimizer.setLearningRate(lr.lr(step));
                optimizer.zeroGrad();

                // The accumulated batch: its target-token count normalises every micro-batch's loss.
                List<Batch> micro = new ArrayList<>();
                double divisor = 0;
                for (int m = 0; m < config.gradAccum(); m++) {
                    Batch b = Batch.of(train, schedule.rowsOf(step * config.gradAccum() + m));
                    micro.add(b);
                    divisor += b.targetCount();
                }
                divisor = Math.max(1, divisor);
                double loss = 0, ce = 0, kd = 0;
                long tokens = 0, agree = 0;
                for (Batch b : micro) {
                    try (Graph g = Graph.withGrad(pool)) {
                        StepLoss s = objective.loss(g, b, divisor, step);
                        loss += s.loss().item();
                        s.loss().backward();
                        ce += s.ceSum();
                        kd += s.kdSum();
                        tokens += s.tokens();
                        agree += s.agree();
                    }
                }
                double gradNorm = config.clip() > 0 ? GradientClipping.clipGlobalNorm(params, config.clip())
                        : GradientClipping.clipGlobalNorm(params, Double.POSITIVE_INFINITY);
                if (!Double.isFinite(loss) || !Double.isFinite(gradNorm)) {
                    String kept = Files.exists(checkpointFile) ? "the last good checkpoint is " + checkpointFile
                            : "no checkpoint was written yet";
                    throw new DivergedException(String.format("step %d: the %s is %s; training stopped and %s. "
                                    + "Try a lower --lr or a stronger --clip.", step + 1,
                            Double.isFinite(loss) ? "gradient norm" : "loss", Double.isFinite(loss) ? gradNorm : loss, kept));
                }
                optimizer.step();
                step++;
                lastLoss = loss;
                long stepTokens = micro.stream().mapToLong(b -> (long) b.batch() * b.seq()).sum();
                tokensSeen += stepTokens;
                double tokPerSec = stepTokens / ((System.nanoTime() - stepStart) / 1e9);

                Map<String, Object> row = new LinkedHashMap<>();
                row.put("step", step);
                row.put("epoch", schedule.epochOf(step * config.gradAccum() - 1));
                row.put("loss", loss);
                row.put("ce", ce / Math.max(1, tokens));
                if (kd != 0) row.put("kd", kd / Math.max(1, tokens));
                if (agree != 0) row.put("agreement", (double) agree / Math.max(1, tokens));
                row.put("lr", optimizer.learningRate());
                row.put("grad_norm", gradNorm);
                row.put("tokens_per_s", tokPerSec);
                metrics.append(row);
                if (progress != null) progress.update(step, loss, tokPerSec);

                if (config.evalEvery() > 0 && step % config.evalEvery() == 0 && step < totalSteps) {
                    logEval(metrics, step, pool);
                }
                if (config.checkpointEvery() > 0 && step % config.checkpointEvery() == 0 && step < totalSteps) {
                    TrainingCheckpoint.save(checkpointFile, step, fingerprint, params, optimizer);
                }
            }
            Evaluator.Result finalEval = logEval(metrics, step, pool);
            TrainingCheckpoint.save(checkpointFile, step, fingerprint, params, optimizer);
            return new Result(step, lastLoss, finalEval, (System.nanoTime() - start) / 1e9, tokensSeen);
        }
    }

    private Evaluator.Result logEval(MetricsLog metrics, long step, BufferPool pool) {
        if (heldOut == null || heldOut.rows() == 0) return null;
        Evaluator.Result r = Evaluator.evaluate(student, teacher, heldOut, config.evalBatches() * config.batchSize(),
                Math.max(1, Math.min(config.batchSize(), 4)), pool);
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("step", step);
        row.put("eval_ce", r.ce());
        row.put("eval_ppl", r.perplexity());
        if (teacher != null) {
            row.put("eval_agreement", r.agreement());
            row.put("eval_kl", r.kl());
        }
        metrics.append(row);
        return r;
    }
}
