package dev.retort.spark;

import dev.retort.distill.cache.CacheDescription;
import dev.retort.distill.cache.CacheHashes;
import dev.retort.distill.cache.TeacherCacheException;
import dev.retort.models.Llm;
import dev.retort.models.llama.LlamaModel;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The teacher of every task in this JVM — a Spark executor, or the driver itself in local mode — opened once per
 * path and adapter and kept for the JVM's life. Its weights are memory-mapped from the path every executor reads, so
 * the tasks running at once on an executor share one copy in the page cache; each task brings its own buffer pool
 * and graph (or its own generation sessions), and the frozen model holds no state a forward pass writes.
 */
final class ExecutorTeachers {
    private record Loaded(Llm llm, String vocabularyHash) {}

    private static final ConcurrentHashMap<String, Loaded> OPEN = new ConcurrentHashMap<>();

    private ExecutorTeachers() {}

    /**
     * The model the driver read, checked to be the one it described: its vocabulary size and hash are the driver's.
     *
     * @throws TeacherCacheException when the executor finds another model there
     */
    static Llm open(TeacherOnExecutors teacher) {
        String key = teacher.path() + (teacher.adapter() == null ? "" : "\0" + teacher.adapter());
        Loaded loaded = OPEN.computeIfAbsent(key, k -> {
            Llm llm = Llm.open(Path.of(teacher.path()), teacher.adapter() == null ? null : Path.of(teacher.adapter()));
            return new Loaded(llm, CacheHashes.vocabulary(llm.tokenizer()));
        });
        int vocab = loaded.llm().config().vocabSize();
        if (vocab != teacher.vocabSize() || !loaded.vocabularyHash().equals(teacher.vocabularyHash())) {
            throw new TeacherCacheException(Path.of(teacher.path()), "on this executor has a vocabulary of "
                    + vocab + " (" + loaded.vocabularyHash() + "); the driver read " + teacher.vocabSize() + " ("
                    + teacher.vocabularyHash() + "): every executor must read the same teacher");
        }
        return loaded.llm();
    }

    /** The teacher a cache describes ({@link #open} of its path, no adapter). */
    static LlamaModel teacher(CacheDescription description) {
        return open(new TeacherOnExecutors(description.teacherPath(), null, description.vocabSize(), description.tokenizerHash())).model();
    }
}
