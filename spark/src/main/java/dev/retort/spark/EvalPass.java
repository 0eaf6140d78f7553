package dev.retort.spark;

import dev.retort.autograd.BufferPool;
import dev.retort.models.Evaluation;
import dev.retort.models.Llm;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.FlatMapFunction;

/**
 * {@code retort spark eval}: the held-out cross-entropy as a Spark job. The driver tokenizes the text and cuts it
 * into {@link Evaluation#windows} exactly as {@code retort eval} does; each task scores its partition's windows
 * with the executor's model ({@link Evaluation#windowLoss}: a float sum per window, the same bits on any machine
 * and thread count) and returns them; the driver adds them in double in window order ({@link Evaluation#of}), the
 * very additions of the single-machine command, so the figure is its figure to the last bit.
 *
 * <p>Unlike the jobs that write data, nothing goes to shards: each task's result is a few bytes per window, and
 * Spark hands the driver exactly one result per partition — a retried or speculative attempt's result replaces,
 * never adds to, its partition's — so the window sums arrive once each; the driver checks that they all did.
 */
final class EvalPass {
    /** Window {@code index} of the text, its tokens [n + 1]. */
    record Window(int index, int[] tokens) implements Serializable {}

    /** The summed loss (nats) of window {@code index}. */
    record WindowLoss(int index, float loss) implements Serializable {}

    private EvalPass() {}

    /** The evaluation of {@code windows} by {@code model} on the executors, in {@code partitions} partitions (at most one per window). */
    static Evaluation evaluate(JavaSparkContext sc, TeacherOnExecutors model, List<int[]> windows, int partitions) {
        CachePass.requirePartitions(partitions);
        List<Window> indexed = new ArrayList<>();
        for (int i = 0; i < windows.size(); i++) indexed.add(new Window(i, windows.get(i)));
        List<WindowLoss> scored = SparkJobs.collect(() -> sc.parallelize(indexed, Math.min(partitions, indexed.size()))
                .mapPartitions(new ScoreWindows(model)).collect());
        float[] losses = new float[windows.size()];
        boolean[] seen = new boolean[windows.size()];
        for (WindowLoss w : scored) {
            if (seen[w.index()]) throw new IllegalStateException("window " + w.index() + " was scored twice");
            seen[w.index()] = true;
            losses[w.index()] = w.loss();
        }
        for (int i = 0; i < seen.length; i++) if (!seen[i]) throw new IllegalStateException("window " + i + " was never scored");
        return Evaluation.of(windows, losses);
    }

    /** The task: the executor's model scores the partition's windows, one forward pass each, with the task's own buffers. */
    record ScoreWindows(TeacherOnExecutors model) implements FlatMapFunction<Iterator<Window>, WindowLoss> {
        @Override
        public Iterator<WindowLoss> call(Iterator<Window> windows) {
            if (!windows.hasNext()) return List.<WindowLoss>of().iterator();
            Llm llm = ExecutorTeachers.open(model);
            List<WindowLoss> scored = new ArrayList<>();
            try (BufferPool pool = new BufferPool()) {
                while (windows.hasNext()) {
                    Window w = windows.next();
                    scored.add(new WindowLoss(w.index(), Evaluation.windowLoss(llm.model(), pool, w.tokens())));
                }
            }
            return scored.iterator();
        }
    }
}
