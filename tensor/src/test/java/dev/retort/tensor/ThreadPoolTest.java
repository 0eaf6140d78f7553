package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ThreadPoolTest {
    private static final Duration LIMIT = Duration.ofSeconds(20);

    @Test
    void everyTaskRunsExactlyOnceForManyTaskCounts() {
        for (int threads : new int[] {1, 2, 3, 5}) {
            try (ThreadPool pool = new ThreadPool(threads)) {
                for (int tasks : new int[] {0, 1, 2, 3, 7, 64, 1000}) {
                    for (int repeat = 0; repeat < 20; repeat++) {
                        AtomicIntegerArray runs = new AtomicIntegerArray(tasks);
                        assertTimeoutPreemptively(LIMIT, () -> pool.parallelFor(tasks, runs::incrementAndGet));
                        for (int i = 0; i < tasks; i++) {
                            if (runs.get(i) != 1) {
                                fail("task " + i + " of " + tasks + " ran " + runs.get(i) + " times on " + threads + " threads");
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void writesOfEveryTaskAreVisibleToTheCaller() {
        try (ThreadPool pool = new ThreadPool(3)) {
            for (int repeat = 0; repeat < 200; repeat++) {
                int[] plain = new int[257];
                pool.parallelFor(plain.length, i -> plain[i] = i + 1);
                for (int i = 0; i < plain.length; i++) assertEquals(i + 1, plain[i], "element " + i + " after job " + repeat);
            }
        }
    }

    @Test
    void parallelForRangeCoversTheRangeInChunks() {
        try (ThreadPool pool = new ThreadPool(3)) {
            AtomicIntegerArray covered = new AtomicIntegerArray(103);
            pool.parallelForRange(103, 10, (from, to) -> {
                assertEquals(0, from % 10, "chunk start " + from);
                for (long i = from; i < to; i++) covered.incrementAndGet((int) i);
            });
            for (int i = 0; i < 103; i++) assertEquals(1, covered.get(i), "element " + i);
        }
    }

    @Test
    void exceptionInATaskPropagatesToTheCaller() {
        try (ThreadPool pool = new ThreadPool(3)) {
            IllegalStateException thrown = new IllegalStateException("task 37 failed");
            IllegalStateException caught = assertThrows(IllegalStateException.class, () ->
                    pool.parallelFor(100, i -> {
                        if (i == 37) throw thrown;
                    }));
            assertSame(thrown, caught);
            AssertionError error = assertThrows(AssertionError.class, () ->
                    pool.parallelFor(10, i -> {
                        if (i == 9) throw new AssertionError("error in task 9");
                    }));
            assertEquals("error in task 9", error.getMessage());
            // A single task runs inline: its exception propagates as well.
            assertThrows(ArithmeticException.class, () -> pool.parallelFor(1, i -> { int zero = 0; int x = 1 / zero; }));
            // The pool still works afterwards.
            AtomicInteger count = new AtomicInteger();
            pool.parallelFor(50, i -> count.incrementAndGet());
            assertEquals(50, count.get());
        }
    }

    @Test
    void nestedParallelForRunsInlineWithoutDeadlock() {
        try (ThreadPool pool = new ThreadPool(3)) {
            AtomicIntegerArray runs = new AtomicIntegerArray(8 * 16);
            assertTimeoutPreemptively(LIMIT, () -> pool.parallelFor(8, outer ->
                    pool.parallelFor(16, inner -> runs.incrementAndGet(outer * 16 + inner))));
            for (int i = 0; i < runs.length(); i++) assertEquals(1, runs.get(i), "nested task " + i);
        }
    }

    @Test
    void concurrentCallersFromOtherThreadsAllComplete() throws InterruptedException {
        try (ThreadPool pool = new ThreadPool(3)) {
            AtomicInteger total = new AtomicInteger();
            Thread[] callers = new Thread[3];
            for (int c = 0; c < callers.length; c++) {
                callers[c] = new Thread(() -> {
                    for (int job = 0; job < 200; job++) pool.parallelFor(13, i -> total.incrementAndGet());
                });
                callers[c].start();
            }
            for (Thread caller : callers) caller.join(LIMIT.toMillis());
            assertEquals(3 * 200 * 13, total.get(), "tasks run by three concurrent callers");
        }
    }

    @Test
    void setSharedThreadsReplacesTheSharedPool() {
        try {
            ThreadPool.setSharedThreads(3);
            assertEquals(3, ThreadPool.shared().threads());
            ThreadPool.setSharedThreads(1);
            assertEquals(1, ThreadPool.shared().threads());
            AtomicInteger count = new AtomicInteger();
            ThreadPool.shared().parallelFor(10, i -> count.incrementAndGet());
            assertEquals(10, count.get());
            ThreadPool.setSharedThreads(2);
            ThreadPool two = ThreadPool.shared();
            ThreadPool.setSharedThreads(2);
            assertSame(two, ThreadPool.shared(), "same size keeps the pool");
        } finally {
            ThreadPool.setSharedThreads(ThreadPool.defaultThreads());
        }
    }

    @Test
    void rejectsPoolsWithoutThreads() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ThreadPool(0));
        assertEquals("threads must be >= 1, got 0", e.getMessage());
    }

    @Test
    void tasksForGivesEachTaskAtLeastAGrainAndCapsTheCount() {
        assertEquals(0, ThreadPool.tasksFor(0, 10, 8), "no work, no tasks");
        assertEquals(1, ThreadPool.tasksFor(5, 10, 8), "less than a grain stays on one task");
        assertEquals(1, ThreadPool.tasksFor(19, 10, 8));
        assertEquals(2, ThreadPool.tasksFor(20, 10, 8));
        assertEquals(8, ThreadPool.tasksFor(1000, 10, 8), "capped at maxTasks");
        assertEquals(10, ThreadPool.tasksFor(100, 10, 100));
        assertEquals(4, ThreadPool.tasksFor(100, 0, 4), "a grain below 1 counts as 1");
        assertEquals(1, ThreadPool.tasksFor(100, 10, 0), "maxTasks below 1 counts as 1");
        assertEquals(Integer.MAX_VALUE, ThreadPool.tasksFor(Long.MAX_VALUE, 1, Integer.MAX_VALUE));
    }
}
