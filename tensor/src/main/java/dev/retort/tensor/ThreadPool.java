package dev.retort.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * The one thread pool every kernel shares.
 *
 * <p>Work is expressed as a fixed number of independent tasks, {@code parallelFor(tasks, body)}: the caller
 * decides the decomposition from the problem alone (never from the thread count), so every task computes the
 * same numbers whichever thread runs it, and results are bitwise identical for any number of threads. A
 * reduction splits its input into fixed chunks, each task writes its partial, and the caller combines the
 * partials in chunk order.
 *
 * <p>Why not a ForkJoinPool: a peer's Java Llama spent more time in fork/join hand-offs than in arithmetic on a
 * small model. Here the calling thread works too, idle workers spin briefly before parking (a new job usually
 * arrives within microseconds during a forward pass), and a job of one task never leaves the calling thread.
 * Use {@link #tasksFor} to size jobs with a grain so that small problems stay on one thread.
 *
 * <p>A {@code parallelFor} issued from inside a task, or while another thread holds the pool, runs on the
 * calling thread; the result is the same either way.
 */
public final class ThreadPool implements AutoCloseable {
    private static final int SPIN_LIMIT = 20_000; // ~tens of microseconds of onSpinWait before parking

    private static volatile ThreadPool shared;

    private final int threads;
    private final Worker[] workers;
    private final ReentrantLock submitLock = new ReentrantLock();
    private final ThreadLocal<Boolean> insideTask = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private volatile Job job;           // the job being run; workers pick it up when generation changes
    private volatile long generation;   // incremented once per parallel job
    private volatile boolean closed;

    /** A pool that runs jobs on {@code threads} threads in total (the caller plus {@code threads - 1} workers). */
    public ThreadPool(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker("retort-worker-" + (i + 1));
            workers[i].start();
        }
    }

    /** The shared pool; its size is {@code -Dretort.threads} or the number of available processors. */
    public static ThreadPool shared() {
        ThreadPool pool = shared;
        if (pool == null) {
            synchronized (ThreadPool.class) {
                pool = shared;
                if (pool == null) shared = pool = new ThreadPool(defaultThreads());
            }
        }
        return pool;
    }

    /** Replaces the shared pool with one of {@code threads} threads (the CLI's {@code --threads}, tests). */
    public static synchronized void setSharedThreads(int threads) {
        ThreadPool old = shared;
        if (old != null && old.threads == threads) return;
        shared = new ThreadPool(threads);
        if (old != null) old.close();
    }

    public static int defaultThreads() {
        String property = System.getProperty("retort.threads");
        if (property != null && !property.isBlank()) return Integer.parseInt(property.trim());
        return Runtime.getRuntime().availableProcessors();
    }

    public int threads() {
        return threads;
    }

    /**
     * The number of tasks to cut {@code work} units into so that each task has at least {@code grain} units,
     * capped at {@code maxTasks}. Depends only on its arguments, never on the thread count.
     */
    public static int tasksFor(long work, long grain, int maxTasks) {
        if (work <= 0) return 0;
        long tasks = Math.max(1, work / Math.max(1, grain));
        return (int) Math.min(tasks, Math.max(1, maxTasks));
    }

    /** Runs {@code body.accept(i)} for every {@code i} in [0, tasks), in any order, on any threads; returns when all are done. */
    public void parallelFor(int tasks, IntConsumer body) {
        if (tasks <= 0) return;
        if (tasks == 1 || workers.length == 0 || insideTask.get() || !submitLock.tryLock()) {
            runInline(tasks, body);
            return;
        }
        try {
            Job j = new Job(tasks, body);
            job = j;
            generation = generation + 1;     // publish: workers spinning on generation see the job
            for (Worker w : workers) {
                if (w.parked) LockSupport.unpark(w);
            }
            insideTask.set(Boolean.TRUE);
            try {
                j.work();
            } finally {
                insideTask.set(Boolean.FALSE);
            }
            j.awaitAll();
            job = null;
            Throwable failure = j.failure.get();
            if (failure != null) {
                if (failure instanceof RuntimeException re) throw re;
                if (failure instanceof Error e) throw e;
                throw new RuntimeException(failure);
            }
        } finally {
            submitLock.unlock();
        }
    }

    /** Convenience: {@code body.accept(lo, hi)} over [0, n) cut into chunks of {@code chunk} (the last may be shorter). */
    public void parallelForRange(long n, long chunk, RangeBody body) {
        if (n <= 0) return;
        int tasks = (int) ((n + chunk - 1) / chunk);
        parallelFor(tasks, t -> body.accept(t * chunk, Math.min(n, (t + 1) * chunk)));
    }

    @FunctionalInterface
    public interface RangeBody {
        void accept(long from, long to);
    }

    private void runInline(int tasks, IntConsumer body) {
        for (int i = 0; i < tasks; i++) body.accept(i);
    }

    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) LockSupport.unpark(w);
    }

    /** One parallel job: tasks are claimed from a shared counter; {@code finished} counts completions. */
    private final class Job {
        final int tasks;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        Job(int tasks, IntConsumer body) {
            this.tasks = tasks;
            this.body = body;
        }

        void work() {
            int i;
            while ((i = next.getAndIncrement()) < tasks) {
                try {
                    if (failure.get() == null) body.accept(i);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    finished.incrementAndGet();
                }
            }
        }

        void awaitAll() {
            int spins = 0;
            while (finished.get() < tasks) {
                if (++spins < SPIN_LIMIT) Thread.onSpinWait();
                else Thread.yield();
            }
        }
    }

    private final class Worker extends Thread {
        volatile boolean parked;

        Worker(String name) {
            super(name);
            setDaemon(true);
        }

        @Override
        public void run() {
            insideTask.set(Boolean.TRUE);
            long seen = 0;
            while (!closed) {
                int spins = 0;
                while (generation == seen && !closed) {
                    if (++spins < SPIN_LIMIT) {
                        Thread.onSpinWait();
                    } else {
                        parked = true;
                        if (generation == seen && !closed) LockSupport.park(this);
                        parked = false;
                    }
                }
                if (closed) return;
                seen = generation;
                Job j = job;
                if (j != null) j.work();
            }
        }
    }
}
