package dev.retort.distill.train;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.PackedData;
import dev.retort.models.llama.LlamaModel;

/**
 * Held-out evaluation of a student, optionally against its teacher: mean cross-entropy (and perplexity) on the
 * target tokens, top-1 agreement with the teacher (how often both rank the same token first), and the forward
 * KL(teacher ‖ student) at temperature 1 in nats per token.
 */
public final class Evaluator {
    private Evaluator() {}

    public record Result(long tokens, double ce, double agreement, double kl) {
        public double perplexity() {
            return Math.exp(ce);
        }
    }

    /** A run's held-out evaluation: --eval-batches batches of --batch-size rows, at most 4 rows per pass. */
    public static Result evaluate(LlamaModel student, LlamaModel teacherOrNull, PackedData data, TrainingConfig config,
                                  BufferPool pool) {
        return evaluate(student, teacherOrNull, data, config.evalBatches() * config.batchSize(), Math.min(4, config.batchSize()), pool);
    }

    /** Evaluates on the first {@code maxRows} rows of {@code data} (all when ≤ 0), {@code rowsPerPass} at a time. */
    public static Result evaluate(LlamaModel student, LlamaModel teacherOrNull, PackedData data, int maxRows,
                                  int rowsPerPass, BufferPool pool) {
        int rows = maxRows > 0 ? Math.min(maxRows, data.rows()) : data.rows();
        int vocab = student.config().vocabSize();
        double ceSum = 0, klSum = 0;
        long tokens = 0, agree = 0;
        for (int start = 0; start < rows; start += rowsPerPass) {
            int n = Math.min(rowsPerPass, rows - start);
            int[] pick = new int[n];
            for (int i = 0; i < n; i++) pick[i] = start + i;
            Batch batch = Batch.of(data, pick);
            try (Graph g = Graph.noGrad(pool)) {
                float[] s = student.logits(g, batch.inputs(), batch.batch(), batch.seq()).value().toFloatArray();
                float[] t = teacherOrNull == null ? null
                        : teacherOrNull.logits(g, batch.inputs(), batch.batch(), batch.seq()).value().toFloatArray();
                int[] targets = batch.targets();
                for (int r = 0; r < targets.length; r++) {
                    if (targets[r] == CrossEntropy.IGNORE_INDEX) continue;
                    int off = r * vocab;
                    double sLse = logSumExp(s, off, vocab);
                    ceSum += sLse - s[off + targets[r]];
                    tokens++;
                    if (t != null) {
                        if (argmax(s, off, vocab) == argmax(t, off, vocab)) agree++;
                        double tLse = logSumExp(t, off, vocab);
                        double kl = 0;
                        for (int j = 0; j < vocab; j++) {
                            double logP = t[off + j] - tLse, logQ = s[off + j] - sLse;
                            kl += Math.exp(logP) * (logP - logQ);
                        }
                        klSum += kl;
                    }
                }
            }
        }
        if (tokens == 0) return new Result(0, Double.NaN, Double.NaN, Double.NaN);
        return new Result(tokens, ceSum / tokens, teacherOrNull == null ? Double.NaN : (double) agree / tokens,
                teacherOrNull == null ? Double.NaN : klSum / tokens);
    }

    static double logSumExp(float[] x, int off, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(x[off + i] - max);
        return max + Math.log(sum);
    }

    static int argmax(float[] x, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (x[off + i] > x[off + best]) best = i;
        return best;
    }
}
