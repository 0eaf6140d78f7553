package dev.retort.distill.train;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.GradientClipping;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.method.EarlyStop;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.options.OutputOptions;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The training loop every method shares: it runs a {@link Plan}'s phases in order, each with a fresh optimizer
 * over its own parameter groups and only its own parameters unfrozen. One optimizer step of a phase:
 * <pre>
 *   lr ← phase schedule(step in phase)
 *   for each of gradAccum micro-batches: loss = objective(batch) / (target tokens of all of them); backward
 *   stop if the loss or the gradient norm is not finite (the last good checkpoint stays)
 *   clip the global gradient norm of the phase's parameters; optimizer step
 *   log; every evalEvery steps evaluate on held-out rows; every checkpointEvery steps checkpoint
 * </pre>
 * Steps are counted across phases (metrics.jsonl's "step"); a checkpoint records the step, the phase and that
 * phase's optimizer state. A phase with an {@link EarlyStop} measures its own held-out loss every few steps and
 * ends early once it stops improving. Everything random is a function of (seed, step) — batch order, dropout — so
 * {@code resume} continues, in any phase, with bitwise the losses an uninterrupted run would have had.
 */
public final class Trainer {
    /** Thrown when the loss or gradients stop being finite. */
    public static final class DivergedException extends RuntimeException {
        DivergedException(String message) {
            super(message);
        }
    }

    /** Thrown in the training thread once an interrupted run (Ctrl-C) has written its checkpoint. */
    public static final class InterruptedRunException extends RuntimeException {
        InterruptedRunException(String message) {
            super(message);
        }
    }

    /** What a finished run reports. */
    public record Result(long steps, double lastLoss, Evaluator.Result finalEval, double seconds, long tokens, ResourceUse resources) {}

    private final TrainingConfig config;
    private final Plan plan;
    private final LlamaModel student;
    private final LlamaModel teacher;
    private final PackedData heldOut;
    private final String fingerprint;
    private final Path out;
    private final boolean progress;
    private final double coreWatts;
    /** Set by the shutdown hook (Ctrl-C); read by the training thread at each step. */
    private volatile boolean stopRequested;
    /** How long an interrupted run may take to finish its step and write its checkpoint. */
    private static final long STOP_WAIT_SECONDS = 120;

    /**
     * @param teacherOrNull used only for evaluation metrics (agreement, KL); the objectives own their use of it
     * @param fingerprint   a description of every setting that changes the numbers; a checkpoint from a run with
     *                      another fingerprint is refused
     * @param output        where the checkpoint and metrics.jsonl go, the progress bar, the power figure of the
     *                      energy estimate
     */
    public Trainer(TrainingConfig config, Plan plan, LlamaModel student, LlamaModel teacherOrNull, PackedData heldOut,
                   String fingerprint, OutputOptions output) {
        this.config = config;
        this.plan = plan;
        this.student = student;
        this.teacher = teacherOrNull;
        this.heldOut = heldOut;
        this.fingerprint = fingerprint;
        this.out = output.out();
        this.progress = output.progress();
        this.coreWatts = output.coreWatts();
    }

    public Result run(boolean resume) {
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot create the output directory: " + e.getMessage(), e);
        }
        Path checkpointFile = out.resolve(TrainingCheckpoint.FILE_NAME);
        MetricsLog metrics = new MetricsLog(out.resolve("metrics.jsonl"));
        List<Parameter> checkpointed = plan.checkpointed();
        long totalSteps = plan.totalSteps();

        long step = 0;
        TrainingCheckpoint.Restored restored = null;
        if (resume) {
            restored = TrainingCheckpoint.restore(checkpointFile, fingerprint, checkpointed);
            plan.restoreRandomState(restored.randomState(), checkpointFile);
            step = restored.step();
            if (!restored.adjustable().isEmpty() && !restored.adjustable().equals(config.describeAdjustable())) {
                System.err.printf("resuming with changed settings for the steps to come: was \"%s\", now \"%s\"%n",
                        restored.adjustable(), config.describeAdjustable());
            }
            if (step > totalSteps) {
                throw new IllegalArgumentException(checkpointFile + ": the checkpoint is at step " + step + ", past the "
                        + totalSteps + " steps this run asks for; give --max-steps of at least " + step);
            }
            metrics.truncateAfter(step);
            System.err.printf("resuming from step %d of %d (%s)%n", step, totalSteps, checkpointFile);
        } else {
            try {
                Files.deleteIfExists(metrics.file());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        ProgressBar bar = progress ? new ProgressBar(System.err, totalSteps) : null;
        long tokensSeen = 0;
        double lastLoss = Double.NaN;
        long start = System.nanoTime();
        ResourceUse.Meter meter = ResourceUse.start(coreWatts);
        // Ctrl-C (SIGINT, SIGTERM): the JVM runs this hook while the training thread goes on; the hook asks for a
        // stop and waits while the thread finishes its step and writes a checkpoint, then the JVM exits (130).
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopRequested = true;
            try {
                stopped.await(STOP_WAIT_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "retort-interrupt");
        Runtime.getRuntime().addShutdownHook(hook);
        try (BufferPool pool = new BufferPool()) {
            long phaseStart = 0;
            for (int index = 0; index < plan.phases().size(); index++) {
                Phase phase = plan.phases().get(index);
                long phaseEnd = phaseStart + phase.steps();
                if (step >= phaseEnd) {
                    phaseStart = phaseEnd;
                    continue;
                }
                if (phase.trainable().isEmpty()) throw new IllegalStateException("phase " + phase.name() + " has nothing to train");
                plan.enterPhase(index);
                Optimizer optimizer = phase.optimizer().apply(phase.groups());
                Patience patience = new Patience(phase.earlyStop() != null);
                if (restored != null && restored.phase() == index) {
                    restored.loadInto(optimizer);
                    patience.restore(restored.randomState());
                }
                while (step < phaseEnd) {
                    if (stopRequested) {
                        if (step > 0) {
                            requireFinite(checkpointed, step, checkpointFile);
                            TrainingCheckpoint.save(checkpointFile, step, index, fingerprint, config.describeAdjustable(), checkpointed, optimizer, patience.with(plan.randomState()));
                        }
                        System.err.printf("%ninterrupted at step %d of %d: %s; --resume continues from there%n", step, totalSteps,
                                step > 0 ? "checkpoint written to " + checkpointFile : "nothing to save yet");
                        stopped.countDown();
                        throw new InterruptedRunException("interrupted at step " + step);
                    }
                    long local = step - phaseStart;
                    long stepStart = System.nanoTime();
                    optimizer.setLearningRate(phase.schedule().lr(local));
                    optimizer.zeroGrad();

                    // The accumulated batch: its target-token count normalises every micro-batch's loss.
                    List<Batch> micro = new ArrayList<>();
                    double divisor = 0;
                    for (int m = 0; m < config.gradAccum(); m++) {
                        Batch b = phase.data().batch(local * config.gradAccum() + m);
                        micro.add(b);
                        divisor += b.targetCount();
                    }
                    divisor = Math.max(1, divisor);
                    double loss = 0, ce = 0, kd = 0;
                    long tokens = 0, agree = 0;
                    for (Batch b : micro) {
                        try (Graph g = Graph.withGrad(pool)) {
                            StepLoss s = phase.objective().loss(g, b, divisor, local);
                            loss += s.loss().item();
                            s.loss().backward();
                            ce += s.ceSum();
                            kd += s.kdSum();
                            tokens += s.tokens();
                            agree += s.agree();
                        }
                    }
                    double gradNorm = GradientClipping.clipGlobalNorm(phase.trainable(),
                            config.clip() > 0 ? config.clip() : Double.POSITIVE_INFINITY);
                    if (!Double.isFinite(loss) || !Double.isFinite(gradNorm)) {
                        throw new DivergedException(String.format("step %d: the %s is %s; training stopped and %s. "
                                        + "Try a lower --lr or a stronger --clip.", step + 1,
                                Double.isFinite(loss) ? "gradient norm" : "loss", Double.isFinite(loss) ? gradNorm : loss,
                                lastGood(checkpointFile)));
                    }
                    if (gradNorm == 0 && loss > 0) {
                        throw new DivergedException(String.format("step %d: the gradient is exactly zero at loss %.4f: the "
                                + "model has collapsed (constant output); training stopped and %s. Try a lower --lr or a "
                                + "stronger --clip.", step + 1, loss, lastGood(checkpointFile)));
                    }
                    optimizer.step();
                    step++;
                    lastLoss = loss;
                    long stepTokens = micro.stream().mapToLong(b -> (long) b.batch() * b.seq()).sum();
                    tokensSeen += stepTokens;
                    double tokPerSec = stepTokens / ((System.nanoTime() - stepStart) / 1e9);

                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("step", step);
                    if (plan.phases().size() > 1) row.put("phase", phase.name());
                    row.put("epoch", phase.data().epochOf((local + 1) * config.gradAccum() - 1));
                    row.put("loss", loss);
                    row.put("ce", ce / Math.max(1, tokens));
                    if (kd != 0) row.put("kd", kd / Math.max(1, tokens));
                    if (agree != 0) row.put("agreement", (double) agree / Math.max(1, tokens));
                    String sources = micro.stream().map(Batch::source).filter(java.util.Objects::nonNull).distinct()
                            .collect(java.util.stream.Collectors.joining("+"));
                    if (!sources.isEmpty()) row.put("source", sources);
                    row.putAll(phase.objective().metrics());
                    row.put("lr", optimizer.learningRate());
                    row.put("grad_norm", gradNorm);
                    row.put("tokens_per_s", tokPerSec);
                    metrics.append(row);
                    if (bar != null) bar.update(step, loss, tokPerSec);

                    if (config.evalEvery() > 0 && step % config.evalEvery() == 0 && step < totalSteps) {
                        logEval(metrics, step, pool);
                    }
                    EarlyStop early = phase.earlyStop();
                    if (early != null && step < phaseEnd && (step - phaseStart) % early.every() == 0) {
                        double held = early.heldOutLoss().applyAsDouble(pool);
                        boolean over = patience.measured(held, early.patience());
                        Map<String, Object> phaseRow = new LinkedHashMap<>();
                        phaseRow.put("step", step);
                        phaseRow.put("phase_eval_loss", held);
                        if (over) phaseRow.put("phase_stopped", phase.name());
                        metrics.append(phaseRow);
                        if (over) step = phaseEnd;   // the phase's remaining steps are skipped
                    }
                    if (config.checkpointEvery() > 0 && step % config.checkpointEvery() == 0 && step < totalSteps) {
                        requireFinite(checkpointed, step, checkpointFile);
                        TrainingCheckpoint.save(checkpointFile, step, index, fingerprint, config.describeAdjustable(), checkpointed, optimizer, patience.with(plan.randomState()));
                    }
                }
                if (step == totalSteps) {
                    Evaluator.Result finalEval = logEval(metrics, step, pool);
                    requireFinite(checkpointed, step, checkpointFile);
                    TrainingCheckpoint.save(checkpointFile, step, index, fingerprint, config.describeAdjustable(), checkpointed, optimizer, patience.with(plan.randomState()));
                    return new Result(step, lastLoss, finalEval, (System.nanoTime() - start) / 1e9, tokensSeen, logResources(metrics, step, meter));
                }
                phaseStart = phaseEnd;
            }
            // resumed from the final checkpoint: nothing left to train, and its evaluation is already logged
            Evaluator.Result finalEval = heldOut == null || heldOut.rows() == 0 ? null
                    : Evaluator.evaluate(student, teacher, heldOut, config, pool);
            return new Result(step, lastLoss, finalEval, (System.nanoTime() - start) / 1e9, tokensSeen, logResources(metrics, step, meter));
        } finally {
            stopped.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the JVM is exiting: the hook has run
            }
        }
    }

    /**
     * A phase's early-stop state ({@link EarlyStop}): the best held-out loss so far and how many measurements in a
     * row have not beaten it, kept in the checkpoint's counters (the double as its bits) for an exact resume.
     */
    private static final class Patience {
        private final boolean used;
        private double best = Double.POSITIVE_INFINITY;
        private long misses;

        Patience(boolean used) {
            this.used = used;
        }

        /** Records a measurement; true when the phase has run out of patience. */
        boolean measured(double loss, int patience) {
            if (loss < best) {
                best = loss;
                misses = 0;
            } else {
                misses++;
            }
            return misses >= patience;
        }

        Map<String, Long> with(Map<String, Long> counters) {
            if (!used) return counters;
            Map<String, Long> all = new LinkedHashMap<>(counters);
            all.put("patience/best", Double.doubleToRawLongBits(best));
            all.put("patience/misses", misses);
            return all;
        }

        void restore(Map<String, Long> counters) {
            if (counters.containsKey("patience/best")) best = Double.longBitsToDouble(counters.get("patience/best"));
            misses = counters.getOrDefault("patience/misses", 0L);
        }
    }

    /**
     * A checkpoint is only written over finite parameters: an update can overflow even when the loss and the
     * gradient norm before it were finite, and the "last good checkpoint" must be good.
     */
    private static void requireFinite(List<Parameter> params, long step, Path checkpointFile) {
        for (Parameter p : params) {
            var v = p.value();
            if (v.dtype() != DType.F32 || !v.isContiguous()) continue;   // frozen half weights never change
            MemorySegment values = v.segment();
            for (long i = 0; i < v.size(); i++) {
                if (!Float.isFinite(values.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, v.offset() + i))) {
                    throw new DivergedException(String.format("step %d: the update made %s non-finite (%s at element %d); "
                            + "training stopped and %s. Try a lower --lr or a stronger --clip.", step, p.name(), v.getFlat(i), i,
                            lastGood(checkpointFile)));
                }
            }
        }
    }

    /** What a stopped run leaves to resume from, for its message. */
    private static String lastGood(Path checkpointFile) {
        return Files.exists(checkpointFile) ? "the last good checkpoint is " + checkpointFile : "no checkpoint was written yet";
    }

    /** The run's cost (this process's part of it, after a resume) as the last line of metrics.jsonl. */
    private static ResourceUse logResources(MetricsLog metrics, long step, ResourceUse.Meter meter) {
        ResourceUse use = meter.stop();
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("step", step);
        row.putAll(use.asRow());
        metrics.append(row);
        return use;
    }

    private Evaluator.Result logEval(MetricsLog metrics, long step, BufferPool pool) {
        if (heldOut == null || heldOut.rows() == 0) return null;
        Evaluator.Result r = Evaluator.evaluate(student, teacher, heldOut, config, pool);
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
