package dev.retort.spark;

import dev.retort.distill.MemoryPlan;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;

/**
 * What one executor must hold, checked on the driver before any task starts: the teacher's weights once (mapped,
 * shared by its tasks) and one teacher pass's activations and logits for every task it runs at once.
 *
 * <p>Retort's tensors live outside the Java heap, so on a cluster the limit is the executor's non-heap memory:
 * {@code spark.executor.memoryOverhead} (by default the larger of 384 MB and
 * {@code spark.executor.memoryOverheadFactor} × {@code spark.executor.memory}) plus {@code spark.memory.offHeap.size}
 * when off-heap memory is enabled; its tasks at once are {@code spark.executor.cores} / {@code spark.task.cpus}
 * (cores 1 when unset, as on YARN and Kubernetes). In local mode the executor is this JVM and the limit is the single
 * machine's: {@code --memory-limit}, or the memory available now; {@code local[N]} runs N tasks at once.
 * {@code --memory-limit} replaces either limit.
 */
public record ExecutorMemory(int concurrentTasks, long limitBytes, String limitSource) {
    private static final Pattern LOCAL = Pattern.compile("local(?:\\[(\\*|\\d+)(?:,\\s*\\d+)?])?");
    private static final long MIB = 1L << 20;

    /** The executor {@code conf} describes ({@code spark.master} set), with {@code memoryLimit} (null: none) over its limit. */
    public static ExecutorMemory of(SparkConf conf, String memoryLimit) {
        String master = conf.get("spark.master");
        Matcher local = LOCAL.matcher(master.trim());
        int tasks;
        if (local.matches()) {
            String n = local.group(1);
            tasks = n == null ? 1 : n.equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(n);
        } else {
            tasks = Math.max(1, conf.getInt("spark.executor.cores", 1) / Math.max(1, conf.getInt("spark.task.cpus", 1)));
        }
        if (memoryLimit != null) return new ExecutorMemory(tasks, MemoryPlan.parseBytes(memoryLimit), "--memory-limit");
        if (local.matches()) return new ExecutorMemory(tasks, 0, "the memory available now (MemAvailable)");
        long heap = conf.getSizeAsMb("spark.executor.memory", "1g") * MIB;
        long overhead = conf.contains("spark.executor.memoryOverhead")
                ? conf.getSizeAsMb("spark.executor.memoryOverhead") * MIB
                : Math.max(384 * MIB, (long) (conf.getDouble("spark.executor.memoryOverheadFactor", 0.10) * heap));
        if (conf.getBoolean("spark.memory.offHeap.enabled", false)) {
            return new ExecutorMemory(tasks, overhead + conf.getSizeAsBytes("spark.memory.offHeap.size", "0"),
                    "spark.executor.memoryOverhead + spark.memory.offHeap.size");
        }
        return new ExecutorMemory(tasks, overhead, "spark.executor.memoryOverhead");
    }

    /** What to change when an executor is too small: {@code lower} (the job's own flags, e.g. "lower --batch"), then Spark's. */
    public static String advice(String lower) {
        return lower + ", run fewer tasks per executor (spark.executor.cores, or N of local[N]), or give executors more "
                + "memory (spark.executor.memoryOverhead, --memory-limit)";
    }

    /**
     * Refuses, in one line ending with {@link #advice} of {@code lower}, an executor whose plan — {@code perTask}'s
     * weights once and its activations once per task at once — is above the limit.
     */
    public void require(MemoryPlan perTask, String lower) {
        MemoryPlan executor = perTask.concurrent(concurrentTasks);
        String source = limitSource + ", for an executor running " + concurrentTasks
                + (concurrentTasks == 1 ? " task" : " tasks") + " at once,";
        if (limitBytes > 0) executor.requireWithin(limitBytes, source, advice(lower));
        else executor.requireWithin(MemoryPlan.availableBytes(), source, advice(lower));
    }
}
