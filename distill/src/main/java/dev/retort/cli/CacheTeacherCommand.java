package dev.retort.cli;

import dev.retort.distill.MemoryPlan;
import dev.retort.distill.cache.TeacherCacheJob;
import dev.retort.distill.cache.TeacherCacheWriter;
import dev.retort.tensor.ThreadPool;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort cache-teacher --teacher DIR --data FILE --top-k K --out FILE}: parse, run {@link TeacherCacheJob},
 * print what was cached.
 */
@Command(name = "cache-teacher", mixinStandardHelpOptions = true, description = "Store a teacher's top-k logits over a data file.")
final class CacheTeacherCommand implements Callable<Integer> {
    @Mixin
    CacheTeacherOptions cache;
    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;
    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        TeacherCacheJob.Options o = cache.options();
        TeacherCacheWriter.requireWritable(o.out());   // first: the teacher pass can take hours
        TeacherCacheJob.memoryPlan(o).requireWithin(MemoryPlan.limit(memoryLimit), TeacherCacheJob.MEMORY_ADVICE);
        TeacherCacheJob.Result r = TeacherCacheJob.run(o, System.err);
        System.out.println(r.summary(o));
        return 0;
    }
}
