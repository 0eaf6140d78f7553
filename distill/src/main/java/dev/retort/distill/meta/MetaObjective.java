package dev.retort.distill.meta;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSchedule;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.MetricsLog;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.StepLoss;
import dev.retort.models.llama.LlamaModel;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Meta-distillation as an {@link Objective} of the shared {@link dev.retort.distill.train.Trainer}. Each training
 * step on a batch x:
 * <ol>
 *   <li>draws the step's quiz batch q from the quiz split (a pure function of the step, so a resumed run draws
 *       the same one);
 *   <li>computes the teacher's meta-gradient ({@link MetaGradient}: pilot update of the student, quiz
 *       cross-entropy, finite difference of ∇φ L) and updates φ with the teacher's AdamW, clipped at norm 1
 *       ({@link MetaTeacher#update});
 *   <li>returns the ordinary KD loss of x with the updated teacher (no teacher gradient), which the trainer
 *       backpropagates and hands to the student's optimizer. The student is where it was before step 2, bit
 *       for bit, so this is exactly a KD step with the updated teacher.
 * </ol>
 * The checkpoint holds the student's trainable parameters and, through {@link #state()}, φ and its optimizer
 * state. Gradient accumulation is not supported: the teacher would change between the
 * micro-batches of one student step.
 */
public final class MetaObjective implements Objective {
    private final LlamaModel student;
    private final List<Parameter> studentTrainable;
    private final MetaTeacher teacher;
    private final KdConfig kd;
    private final PackedData quiz;
    private final BatchSchedule quizSchedule;
    private final double pilotLr, fdStep;
    private final KdObjective plain;
    private final MetricsLog log;   // null: no per-step meta log
    private boolean logTrimmed;

    /**
     * @param studentTrainable what the student's optimizer trains (all weights, or LoRA adapters)
     * @param quizBatch        rows per quiz batch
     * @param log              where to append each step's meta diagnostics (or null)
     */
    public MetaObjective(LlamaModel student, List<Parameter> studentTrainable, MetaTeacher teacher, KdConfig kd, PackedData quiz, int quizBatch, long seed, double pilotLr,
                         double fdStep, MetricsLog log) {
        if (quiz.rows() == 0) throw new IllegalArgumentException("meta-distillation: the quiz split is empty (give --quiz-data or a larger --quiz-fraction)");
        this.student = student;
        this.studentTrainable = List.copyOf(studentTrainable);
        this.teacher = teacher;
        this.kd = kd;
        this.quiz = quiz;
        this.quizSchedule = new BatchSchedule(quiz.rows(), Math.min(quizBatch, quiz.rows()), seed ^ 0x9015L);
        this.pilotLr = pilotLr;
        this.fdStep = fdStep;
        this.log = log;
        this.plain = KdObjective.live(student, teacher.model(), kd);
    }

    @Override
    public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
        if (step >= 0) {   // a training step (step −1: evaluation, which leaves the teacher alone)
            Batch q = Batch.of(quiz, quizSchedule.rowsOf(step));
            MetaGradient.Result r = MetaGradient.compute(student, studentTrainable, teacher.model(), teacher.parameters(),
                    kd, batch, q, pilotLr, fdStep, g.pool());
            double norm = teacher.update(r.gradient());
            MetaGradient.Diagnostics last = r.diagnostics();
            if (log != null) {
                if (!logTrimmed) {   // first step of this process: drop what a previous or interrupted run logged after it
                    log.truncateAfter(step);
                    logTrimmed = true;
                }
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("step", step + 1);
                row.put("pilot_loss", last.pilotLoss());
                row.put("quiz_ce", last.quizLoss());
                row.put("quiz_grad_norm", last.quizGradientNorm());
                row.put("meta_grad_norm", norm);
                log.append(row);
            }
        }
        return plain.loss(g, batch, divisor, step);
    }

    public MetaTeacher teacher() { return teacher; }

    /** The teacher's meta state (φ and its optimizer moments, as frozen aliases) for the checkpoint. */
    @Override
    public List<Parameter> state() {
        return teacher.checkpointState();
    }
}
