package dev.retort.distill.loss;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.ops.LmHeadLoss;
import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The logit-distillation loss of a batch: cross-entropy on the data mixed with a divergence from the teacher.
 *
 * <pre>
 *   loss = (1/divisor)·Σ_{counted rows} [(1 − α)·CE_r + α·T²·D(p_r ‖ q_r)]
 * </pre>
 *
 * over the rows whose target is not {@link CrossEntropy#IGNORE_INDEX} (see {@link KdConfig} for the symbols and
 * {@link KdRows} for the gradient). divisor 0 means the number of counted rows; gradient accumulation passes the
 * token count of the whole accumulated batch so that micro-batches add up exactly.
 *
 * <p><b>Top-k truncation.</b> With {@link KdConfig#topK()} = k &gt; 0 both distributions are coarsened to k + 1
 * buckets before D is taken: the teacher's top-k tokens, each alone, and one "rest" bucket holding all the other
 * tokens' mass — for the teacher from its cached {@link TopKBlock#restLogSumExp()}, for the student summed over
 * its own logits outside the top-k. A dense teacher truncated by the loss and a cache with the same k give the
 * same blocks, hence the same loss and gradient. With k = 0 every token is its own bucket.
 *
 * <p>Like {@link CrossEntropy}, it is the one chunked {@link LmHeadLoss} op with a row plug-in of its own
 * ({@link StudentRows}): the fused {@link #linear} form makes student logits {@code chunkRows} rows at a time,
 * so neither [N × V] student nor teacher probabilities ever exist (one chunk × V buffer of each), and computes
 * the logits' gradient during the forward pass. The teacher is read only during the forward pass.
 */
public final class DistillationLoss {
    private DistillationLoss() {}

    /**
     * The loss and, for logging, its parts before weighting: Σ CE and Σ D over counted rows (D at temperature T,
     * without α·T²), the number of counted rows, and how many of them have the student's argmax equal to the
     * teacher's (top-1 agreement; ties go to the lower token id).
     */
    public record Result(Var loss, double ceSum, double kdSum, int countedTokens, int top1Agreement, PerRow perRow) {
        public Result(Var loss, double ceSum, double kdSum, int countedTokens, int top1Agreement) {
            this(loss, ceSum, kdSum, countedTokens, top1Agreement, null);
        }
    }

    /**
     * Each row's divergence D (at T, unweighted) and the entropy of its teacher distribution at T, over the same
     * buckets; both 0 for rows that do not count. What a caller that scores rows apart needs (adaptive prompting).
     */
    public record PerRow(double[] kd, double[] teacherEntropy) {
        /** Σ over rows of the teacher's entropy. */
        public double entropySum() {
            double h = 0;
            for (double v : teacherEntropy) h += v;
            return h;
        }
    }

    /**
     * The fused loss of student logits {@code studentHidden · studentHeadᵀ}: studentHidden [N × C] (or
     * [B × T × C]) F32, studentHead [V × C] (trainable F32 or frozen BF16/F16), teacher rows N and vocabulary V.
     */
    public static Result linear(Var studentHidden, Var studentHead, TeacherSource teacher, int[] targets,
                                KdConfig config, double divisor, int chunkRows) {
        return linear(studentHidden, studentHead, teacher, targets, config, divisor, chunkRows, false);
    }

    /** As {@link #linear}, and with {@code perRow} each row's D and teacher entropy as well ({@link Result#perRow}). */
    public static Result linear(Var studentHidden, Var studentHead, TeacherSource teacher, int[] targets,
                                KdConfig config, double divisor, int chunkRows, boolean perRow) {
        StudentRows rows = new StudentRows(teacher, targets, config, divisor, perRow);
        return rows.result(LmHeadLoss.linear(studentHidden, studentHead, rows, chunkRows));
    }

    /**
     * The same loss from ready-made student logits [N × V] (or [B × T × V]), for tests and small cases; the
     * gradient buffer is the only other [N × V] array.
     */
    public static Result fromLogits(Var studentLogits, TeacherSource teacher, int[] targets, KdConfig config,
                                    double divisor) {
        return fromLogits(studentLogits, teacher, targets, config, divisor, false);
    }

    /** As {@link #fromLogits}, optionally with each row's D and teacher entropy. */
    public static Result fromLogits(Var studentLogits, TeacherSource teacher, int[] targets, KdConfig config,
                                    double divisor, boolean perRow) {
        StudentRows rows = new StudentRows(teacher, targets, config, divisor, perRow);
        return rows.result(LmHeadLoss.fromLogits(studentLogits, rows));
    }

    /**
     * The student-side row plug-in of {@link LmHeadLoss}: each chunk's teacher rows (dense, truncated here, or
     * top-k blocks from the source) against the student's logits, through {@link KdRows}.
     */
    private static final class StudentRows implements LmHeadLoss.Rows {
        private final TeacherSource teacher;
        private final int[] targets;
        private final KdConfig config;
        private final double divisor;
        private final boolean perRowWanted;
        private TeacherMode mode;
        private double scale;
        private KdRows math;
        private KdRows.RowResults perRow;
        private Tensor teacherLogits;      // one chunk of dense teacher logits, unless the source gives blocks
        private Result sums;

        StudentRows(TeacherSource teacher, int[] targets, KdConfig config, double divisor, boolean perRow) {
            this.teacher = teacher;
            this.targets = targets;
            this.config = config;
            this.divisor = divisor;
            this.perRowWanted = perRow;
        }

        @Override
        public void begin(Graph g, int rows, int vocab, int chunkRows, boolean gradient) {
            mode = checkInputs(teacher, targets, config, rows, vocab);
            scale = 1.0 / (divisor > 0 ? divisor : Math.max(1, countedRows(targets)));
            math = new KdRows(g.kernels().elementwise(), config, vocab, scale, gradient);
            perRow = new KdRows.RowResults(rows, perRowWanted);
            teacherLogits = mode == TeacherMode.BLOCKS ? null : g.allocate(chunkRows, vocab);
        }

        @Override
        public void chunk(int firstRow, int n, MemorySegment logits, long offset) {
            rowsWithTeacher(math, mode, teacher, config, teacherLogits, firstRow, n, logits, offset, targets, perRow);
        }

        @Override
        public float end(Graph g) {
            if (teacherLogits != null) g.release(teacherLogits);
            sums = total(perRow, targets);
            double t = config.temperature(), a = config.alpha();
            return (float) (scale * ((1 - a) * sums.ceSum() + a * t * t * sums.kdSum()));
        }

        Result result(Var loss) {
            PerRow rows = perRowWanted ? new PerRow(perRow.kd(), perRow.teacherEntropy()) : null;   // masked rows stay 0
            return new Result(loss, sums.ceSum(), sums.kdSum(), sums.countedTokens(), sums.top1Agreement(), rows);
        }
    }

    // ---- the teacher side ---------------------------------------------------------------------------------

    /** Where each chunk's teacher comes from. */
    private enum TeacherMode {
        /** Full vocabulary from dense teacher logits. */
        DENSE,
        /** Top-k from dense teacher logits, truncated here. */
        TRUNCATE,
        /** Top-k blocks handed out by the source (a cache, or a truncating {@link DenseTeacher}). */
        BLOCKS
    }

    /** Rows [r0, r0 + n) of student logits at (z, zOff) against their teacher. */
    private static void rowsWithTeacher(KdRows math, TeacherMode mode, TeacherSource teacher, KdConfig config,
                                        Tensor teacherLogits, int r0, int n, MemorySegment z, long zOff,
                                        int[] targets, KdRows.RowResults perRow) {
        switch (mode) {
            case DENSE -> {
                teacher.denseLogits(r0, n, teacherLogits.slice(0, 0, n));
                math.dense(n, z, zOff, teacherLogits.segment(), teacherLogits.offset(), targets, r0, perRow);
            }
            case TRUNCATE -> {
                Tensor dense = teacherLogits.slice(0, 0, n);
                teacher.denseLogits(r0, n, dense);
                TopKBlock block = TopKBlock.fromDense(dense, config.topK(), config.temperature());
                math.topK(n, z, zOff, block, targets, r0, perRow);
            }
            case BLOCKS -> {
                TopKBlock block = teacher.topKBlock(r0, n, config.temperature());
                checkBlock(block, r0, n, teacher.vocab(), config);
                math.topK(n, z, zOff, block, targets, r0, perRow);
            }
        }
    }

    private static TeacherMode checkInputs(TeacherSource teacher, int[] targets, KdConfig config, int rows, int vocab) {
        if (teacher.rows() != rows || teacher.vocab() != vocab) {
            throw new IllegalArgumentException("distillation loss: teacher has " + teacher.rows() + " rows × vocabulary "
                    + teacher.vocab() + ", student " + rows + " rows × vocabulary " + vocab);
        }
        if (targets.length != rows) {
            throw new IllegalArgumentException("distillation loss: " + targets.length + " targets for " + rows + " rows");
        }
        for (int i = 0; i < rows; i++) {
            int t = targets[i];
            if (t != CrossEntropy.IGNORE_INDEX && (t < 0 || t >= vocab)) {
                throw new IllegalArgumentException("distillation loss: target " + t + " at row " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        int k = config.topK();
        if (k > vocab) throw new IllegalArgumentException("distillation loss: topK " + k + " exceeds the vocabulary size " + vocab);
        if (k == 0) {
            if (teacher.topK() != 0) {
                throw new IllegalArgumentException("distillation loss: the config asks for the full vocabulary (topK 0) "
                        + "but the teacher source holds top-" + teacher.topK() + " blocks");
            }
            return TeacherMode.DENSE;
        }
        if (teacher.topK() == 0) return TeacherMode.TRUNCATE;
        if (teacher.topK() != k) {
            throw new IllegalArgumentException("distillation loss: the config asks for top-" + k
                    + " but the teacher source holds top-" + teacher.topK() + " blocks");
        }
        return TeacherMode.BLOCKS;
    }

    private static void checkBlock(TopKBlock block, int r0, int n, int vocab, KdConfig config) {
        if (block.rows() != n || block.k() != config.topK()) {
            throw new IllegalArgumentException("distillation loss: teacher block for rows [" + r0 + ", " + (r0 + n)
                    + ") has " + block.rows() + " rows × k " + block.k() + ", expected " + n + " × " + config.topK());
        }
        // a cache may store T in single precision
        if (Math.abs(block.temperature() - config.temperature()) > 1e-6 * config.temperature()) {
            throw new IllegalArgumentException("distillation loss: teacher block made at temperature " + block.temperature()
                    + " but the config asks for T = " + config.temperature() + " (its rest log-sum-exp is only valid at its own T)");
        }
        block.validate(vocab, r0);
    }

    // ---- totals ---------------------------------------------------------------------------------------------

    /** Adds the per-row results in row order (so the sums do not depend on the thread count). */
    private static Result total(KdRows.RowResults perRow, int[] targets) {
        double ce = 0, kd = 0;
        int counted = 0, agree = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == CrossEntropy.IGNORE_INDEX) continue;
            ce += perRow.ce()[r];
            kd += perRow.kd()[r];
            counted++;
            if (perRow.agree()[r]) agree++;
        }
        return new Result(null, ce, kd, counted, agree);
    }

    private static int countedRows(int[] targets) {
        int counted = 0;
        for (int t : targets) if (t != CrossEntropy.IGNORE_INDEX) counted++;
        return counted;
    }

}
