package dev.retort.spark;

import java.util.function.Supplier;
import org.apache.spark.SparkException;

/** Runs a Spark action so that a failed job is one line: what failed, and why, as Spark's first line says it. */
final class SparkJobs {
    private SparkJobs() {}

    /**
     * The action's result.
     *
     * @throws IllegalStateException (a run failure, exit 1) when the job failed, say a task that failed on every
     *     attempt, with Spark's first line, which names the task and its exception
     */
    static <T> T collect(Supplier<T> action) {
        try {
            return action.get();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {   // Scala throws SparkException, checked in Java, without declaring it
            if (!(e instanceof SparkException)) throw new IllegalStateException(e.toString(), e);
            String message = e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("");
            throw new IllegalStateException("the Spark job failed: " + message, e);
        }
    }
}
