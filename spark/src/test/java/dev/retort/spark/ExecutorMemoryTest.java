package dev.retort.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.MemoryPlan;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

/** Tasks at once and the limit an executor's plan is held to, read from Spark's settings as Spark reads them. */
class ExecutorMemoryTest {
    static final long MIB = 1L << 20;

    static SparkConf conf(String master) {
        return new SparkConf(false).setMaster(master);
    }

    @Test
    void localModeRunsNTasksInThisJvmUnderTheMachinesLimit() {
        assertEquals(new ExecutorMemory(1, 0, "the memory available now (MemAvailable)"), ExecutorMemory.of(conf("local"), null));
        assertEquals(4, ExecutorMemory.of(conf("local[4]"), null).concurrentTasks());
        assertEquals(2, ExecutorMemory.of(conf("local[2,3]"), null).concurrentTasks(), "local[N,F]: F is retries, not tasks");
        assertEquals(Runtime.getRuntime().availableProcessors(), ExecutorMemory.of(conf("local[*]"), null).concurrentTasks());
        assertEquals(new ExecutorMemory(2, 8L << 30, "--memory-limit"), ExecutorMemory.of(conf("local[2]"), "8g"));
    }

    @Test
    void aClusterExecutorsLimitIsItsNonHeapMemory() {
        assertEquals(new ExecutorMemory(1, 384 * MIB, "spark.executor.memoryOverhead"), ExecutorMemory.of(conf("yarn"), null),
                "defaults: 1 core, the larger of 384 MB and 10% of a 1 GB heap");
        ExecutorMemory big = ExecutorMemory.of(conf("spark://h:7077").set("spark.executor.memory", "10g")
                .set("spark.executor.cores", "8").set("spark.task.cpus", "2"), null);
        assertEquals(new ExecutorMemory(4, 1024 * MIB, "spark.executor.memoryOverhead"), big, "10% of 10 GB; 8 cores / 2 per task");
        assertEquals(2048 * MIB, ExecutorMemory.of(conf("yarn").set("spark.executor.memoryOverhead", "2g"), null).limitBytes());
        assertEquals(new ExecutorMemory(1, 384 * MIB + 3 * 1024 * MIB, "spark.executor.memoryOverhead + spark.memory.offHeap.size"),
                ExecutorMemory.of(conf("k8s://h").set("spark.memory.offHeap.enabled", "true").set("spark.memory.offHeap.size", "3g"), null));
        assertEquals(new ExecutorMemory(1, 5L << 30, "--memory-limit"), ExecutorMemory.of(conf("yarn"), "5g"));
    }

    @Test
    void anExecutorTooSmallIsRefusedInOneLineCountingItsTasksActivations() {
        MemoryPlan perTask = new MemoryPlan(300 * MIB, 0, 100 * MIB);
        new ExecutorMemory(2, 500 * MIB, "spark.executor.memoryOverhead").require(perTask, "lower --batch");   // 300 + 2 × 100
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ExecutorMemory(3, 500 * MIB, "spark.executor.memoryOverhead").require(perTask, "lower --batch"));
        assertTrue(e.getMessage().startsWith("this run needs about 600 MB (weights 300 MB,")
                && e.getMessage().contains("but spark.executor.memoryOverhead, for an executor running 3 tasks at once, is 500 MB; ")
                && e.getMessage().endsWith("; " + ExecutorMemory.advice("lower --batch")), e.getMessage());
    }
}
