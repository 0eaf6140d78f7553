package dev.retort.distill.loss;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.ops.LmHeadLoss;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.ThreadPool;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The distillation loss of {@link DistillationLoss} differentiated with respect to the TEACHER: the student is a
 * constant, the teacher's logits y carry the gradient. Meta-distillation needs it to push the KD loss back
 * through the teacher into its (LoRA) parameters.
 *
 * <pre>
 *   loss    = scale·Σ_{counted rows} [(1 − α)·CE_r + α·T²·D(p_r ‖ q_r)]      (the same value as DistillationLoss)
 *   dy_j    = scale·α·T·(p_j/p_{b(j)}·e_{b(j)} − p_j·Σ_b e_b)                  (CE does not depend on the teacher)
 * </pre>
 *
 * with p = softmax(y/T), q = softmax(z/T), b(j) token j's bucket and e_b = p_b·∂D/∂p_b ({@link Divergence#teacherTermGradient}).
 * It is the student-side chain rule of {@link KdRows} with the roles of p and q exchanged: ∂p_b/∂(y_j/T) =
 * p_j·([j ∈ b] − p_b). With top-k truncation the buckets are the teacher's own top-k tokens and the rest; which
 * tokens are in the top-k is piecewise constant in y, so it has no derivative (ties are measure zero).
 *
 * <p>It is the one chunked {@link LmHeadLoss} op with the teacher's hidden states and head in the differentiated
 * seat and a row plug-in of its own ({@link TeacherRows}) that makes the student's logits of each chunk beside
 * them, so [N × V] never exists; backward scales the accumulated dHidden_teacher [N × Ct] and dHead_teacher
 * [V × Ct] by the incoming gradient.
 */
public final class TeacherSideKd {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final long ROW_GRAIN = 1 << 14;

    private TeacherSideKd() {}

    /**
     * The fused loss with gradients for the teacher: student hidden states [N × Cs] (or [B × T × Cs]) and head
     * [V × Cs] are plain values (any head dtype); {@code teacherHidden} [N × Ct] F32 and {@code teacherHead}
     * [V × Ct] receive gradients where they require one.
     */
    public static Var linear(Tensor studentHidden, Tensor studentHead, Var teacherHidden, Var teacherHead, int[] targets,
                             KdConfig config, double divisor, int chunkRows) {
        int cs = studentHidden.dim(-1), rows = (int) (studentHidden.size() / cs);
        requireF32(studentHidden, "student hidden states");
        requireF32(teacherHidden.value(), "teacher hidden states");
        int ct = teacherHidden.dim(-1);
        Tensor ws = studentHead, wt = teacherHead.value();
        if (ws.rank() != 2 || ws.dim(1) != cs || !ws.isContiguous()) {
            throw new IllegalArgumentException("teacher-side KD: student head " + ws + " does not fit hidden width " + cs);
        }
        if (wt.rank() != 2 || wt.dim(1) != ct || !wt.isContiguous() || wt.dim(0) != ws.dim(0)) {
            throw new IllegalArgumentException("teacher-side KD: teacher head " + wt + " does not fit hidden width " + ct
                    + " and the student's vocabulary " + ws.dim(0));
        }
        if (teacherHidden.size() / ct != rows) {
            throw new IllegalArgumentException("teacher-side KD: " + (teacherHidden.size() / ct) + " teacher rows for " + rows + " student rows");
        }
        Gemm gemm = teacherHidden.graph().kernels().gemm();
        int vocab = ws.dim(0);
        // the student's logits of rows [r0, r0 + n): z[n × V] = hs[n × Cs] · Wsᵀ
        StudentLogits student = (r0, n, z) -> gemm.gemm(Layout.ABT, n, vocab, cs, 1f, studentHidden.segment(),
                studentHidden.offset() + (long) r0 * cs, cs, ws.segment(), ws.offset(), cs, ws.dtype(), 0f, z.segment(), 0, vocab);
        return LmHeadLoss.linear(teacherHidden, teacherHead, new TeacherRows(student, targets, config, divisor), chunkRows);
    }

    /** The same from ready-made logits: student [N × V] a constant, teacher [N × V] with the gradient (tests). */
    public static Var fromLogits(Tensor studentLogits, Var teacherLogits, int[] targets, KdConfig config, double divisor) {
        requireF32(studentLogits, "student logits");
        requireF32(teacherLogits.value(), "teacher logits");
        if (teacherLogits.size() != studentLogits.size()) {
            throw new IllegalArgumentException("teacher-side KD: teacher logits " + teacherLogits.value() + " vs student " + studentLogits);
        }
        int vocab = studentLogits.dim(-1);
        StudentLogits student = (r0, n, z) -> MemorySegment.copy(studentLogits.segment(),
                (studentLogits.offset() + (long) r0 * vocab) * 4, z.segment(), 0, (long) n * vocab * 4);
        return LmHeadLoss.fromLogits(teacherLogits, new TeacherRows(student, targets, config, divisor));
    }

    /** Writes the student's logits of rows [r0, r0 + n) into z [n × V]. */
    private interface StudentLogits {
        void rows(int r0, int n, Tensor z);
    }

    /**
     * The teacher-side row plug-in of {@link LmHeadLoss}: the chunk's logits are the teacher's (they carry the
     * gradient), the student's come from {@link StudentLogits} into a scratch chunk.
     */
    private static final class TeacherRows implements LmHeadLoss.Rows {
        private final StudentLogits student;
        private final int[] targets;
        private final KdConfig config;
        private final double divisor;
        private Rows math;
        private double scale;
        private double[] ce, kd;
        private Tensor z;

        TeacherRows(StudentLogits student, int[] targets, KdConfig config, double divisor) {
            this.student = student;
            this.targets = targets;
            this.config = config;
            this.divisor = divisor;
        }

        @Override
        public void begin(Graph g, int rows, int vocab, int chunkRows, boolean gradient) {
            checkTargets(targets, rows, vocab, config);
            scale = 1.0 / (divisor > 0 ? divisor : Math.max(1, countedRows(targets)));
            math = new Rows(config, vocab, scale);
            ce = new double[rows];
            kd = new double[rows];
            z = g.allocate(chunkRows, vocab);
        }

        @Override
        public void chunk(int firstRow, int n, MemorySegment y, long offset) {
            student.rows(firstRow, n, z);
            int vocab = z.dim(1);
            Tensor teacher = Tensor.wrap(y.asSlice(offset * 4, (long) n * vocab * 4), DType.F32, n, vocab);   // [n × V]
            TopKBlock block = config.topK() == 0 ? null : TopKBlock.fromDense(teacher, config.topK(), config.temperature());
            math.rows(n, z.segment(), teacher.segment(), block, targets, firstRow, ce, kd);
        }

        @Override
        public float end(Graph g) {
            g.release(z);
            return value(ce, kd, targets, config, scale);
        }
    }

    /**
     * Per-row arithmetic over rows whose logits sit at z (student) and y (teacher), row r at r·V; y is
     * overwritten by dy. Rows are independent and spread over the pool; each writes only its own results.
     */
    private static final class Rows {
        private final Divergence divergence;
        private final int vocab;
        private final double invT, beta, kdWeight;   // kdWeight = scale·α·T: the loss's α·T² times ∂(y/T)/∂y
        private final double temperature;

        Rows(KdConfig config, int vocab, double scale) {
            this.divergence = config.divergence();
            this.vocab = vocab;
            this.temperature = config.temperature();
            this.invT = 1 / temperature;
            this.beta = config.beta();
            this.kdWeight = scale * config.alpha() * temperature;
        }

        void rows(int n, MemorySegment z, MemorySegment y, TopKBlock block, int[] targets, int firstRow, double[] ce, double[] kd) {
            int tasks = ThreadPool.tasksFor((long) n * vocab, ROW_GRAIN, n);
            ThreadPool.shared().parallelFor(tasks, t -> {
                int from = (int) ((long) n * t / tasks), to = (int) ((long) n * (t + 1) / tasks);
                for (int r = from; r < to; r++) {
                    long row = (long) r * vocab;
                    int target = targets[firstRow + r];
                    if (target == CrossEntropy.IGNORE_INDEX) {
                        y.asSlice(row * 4, (long) vocab * 4).fill((byte) 0);
                        continue;
                    }
                    ce[firstRow + r] = logSumExp(z, row, 1, null) - z.getAtIndex(F32, row + target);
                    kd[firstRow + r] = block == null ? dense(z, y, row) : topK(z, y, row, block, r);
                }
            });
        }

        /** Every token its own bucket: e_j = p_j·∂f/∂p_j, dy_j = kdWeight·(e_j − p_j·Σ e). */
        private double dense(MemorySegment z, MemorySegment y, long row) {
            double lseQ = logSumExp(z, row, invT, null), lseP = logSumExp(y, row, invT, null);
            double d = 0, eSum = 0;
            for (int j = 0; j < vocab; j++) {
                double logP = y.getAtIndex(F32, row + j) * invT - lseP;
                double logQ = z.getAtIndex(F32, row + j) * invT - lseQ;
                d += divergence.term(logP, logQ, beta);
                double e = divergence.teacherTermGradient(logP, logQ, beta);
                eSum += e;
                z.setAtIndex(F32, row + j, (float) e);   // z is scratch from here on: it holds e_j
            }
            for (int j = 0; j < vocab; j++) {
                double p = Math.exp(y.getAtIndex(F32, row + j) * invT - lseP);
                y.setAtIndex(F32, row + j, (float) (kdWeight * (z.getAtIndex(F32, row + j) - p * eSum)));
            }
            return d;
        }

        /** The teacher's top-k tokens alone and one rest bucket; p_j/p_rest = exp(y_j/T − lseRest_p). */
        private double topK(MemorySegment z, MemorySegment y, long row, TopKBlock block, int blockRow) {
            int k = block.k();
            boolean[] inTop = new boolean[vocab];
            int[] ids = new int[k];
            for (int i = 0; i < k; i++) {
                ids[i] = block.id(blockRow, i);
                inTop[ids[i]] = true;
            }
            double lseP = logSumExp(y, row, invT, null), lseQ = logSumExp(z, row, invT, null);
            double restP = logSumExp(y, row, invT, inTop), restQ = logSumExp(z, row, invT, inTop);
            boolean hasRest = restP != Double.NEGATIVE_INFINITY;
            double d = 0, eSum = 0, eRest = 0;
            double[] e = new double[k];
            for (int i = 0; i < k; i++) {
                double logP = y.getAtIndex(F32, row + ids[i]) * invT - lseP;
                double logQ = z.getAtIndex(F32, row + ids[i]) * invT - lseQ;
                d += divergence.term(logP, logQ, beta);
                e[i] = divergence.teacherTermGradient(logP, logQ, beta);
                eSum += e[i];
            }
            if (hasRest) {
                double logP = restP - lseP, logQ = restQ - lseQ;
                d += divergence.term(logP, logQ, beta);
                eRest = divergence.teacherTermGradient(logP, logQ, beta);
                eSum += eRest;
            }
            // every token as if in the rest bucket, then the top-k tokens, each alone (p_j/p_b = 1)
            for (int j = 0; j < vocab; j++) {
                double yj = y.getAtIndex(F32, row + j);
                double p = Math.exp(yj * invT - lseP);
                double inBucket = hasRest ? Math.exp(yj * invT - restP) * eRest : 0;
                y.setAtIndex(F32, row + j, (float) (kdWeight * (inBucket - p * eSum)));
            }
            for (int i = 0; i < k; i++) {
                double p = Math.exp(block.logit(blockRow, i) * invT - lseP);
                y.setAtIndex(F32, row + ids[i], (float) (kdWeight * (e[i] - p * eSum)));
            }
            return d;
        }

        /** log Σ_j exp(x_j·factor) over a row, skipping tokens marked in {@code skip}; −∞ if none is left. */
        private double logSumExp(MemorySegment x, long row, double factor, boolean[] skip) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < vocab; j++) if (skip == null || !skip[j]) max = Math.max(max, x.getAtIndex(F32, row + j));
            if (max == Double.NEGATIVE_INFINITY) return max;
            double sum = 0;
            for (int j = 0; j < vocab; j++) if (skip == null || !skip[j]) sum += Math.exp((x.getAtIndex(F32, row + j) - max) * factor);
            return max * factor + Math.log(sum);
        }
    }

    /** loss = scale·((1 − α)·Σ CE + α·T²·Σ D) over counted rows, summed in row order. */
    private static float value(double[] ce, double[] kd, int[] targets, KdConfig config, double scale) {
        double ceSum = 0, kdSum = 0;
        for (int r = 0; r < targets.length; r++) {
            if (targets[r] == CrossEntropy.IGNORE_INDEX) continue;
            ceSum += ce[r];
            kdSum += kd[r];
        }
        double t = config.temperature(), a = config.alpha();
        return (float) (scale * ((1 - a) * ceSum + a * t * t * kdSum));
    }

    private static void checkTargets(int[] targets, int rows, int vocab, KdConfig config) {
        if (targets.length != rows) throw new IllegalArgumentException("teacher-side KD: " + targets.length + " targets for " + rows + " rows");
        for (int i = 0; i < rows; i++) {
            int t = targets[i];
            if (t != CrossEntropy.IGNORE_INDEX && (t < 0 || t >= vocab)) {
                throw new IllegalArgumentException("teacher-side KD: target " + t + " at row " + i + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        if (config.topK() > vocab) throw new IllegalArgumentException("teacher-side KD: topK " + config.topK() + " exceeds the vocabulary size " + vocab);
    }

    private static int countedRows(int[] targets) {
        int n = 0;
        for (int t : targets) if (t != CrossEntropy.IGNORE_INDEX) n++;
        return n;
    }

    private static void requireF32(Tensor t, String what) {
        if (t.dtype() != DType.F32 || !t.isContiguous()) {
            throw new IllegalArgumentException("teacher-side KD: " + what + " must be a contiguous F32 tensor, got " + t);
        }
    }
}
