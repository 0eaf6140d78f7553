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
 * path and kept for the JVM's life. Its weights are memory-mapped from the path every executor reads, so the
 * tasks running at once on an executor share one copy in the page cache; each task brings its own buffer pool
 * and graph, and the frozen model holds no state a forward pass writes.
 */
final class ExecutorTeachers {
    private record Loaded(Llm llm, String vocabularyHash) {}

    private static final ConcurrentHashMap<String, Loaded> OPEN = new ConcurrentHashMap<>();

    private ExecutorTeachers() {}

    /**
     * The teacher at {@code description.teacherPath()}, checked to be the one the driver described: its vocabulary
     * size and hash are the cache's.
     *
     * @throws TeacherCacheException when the executor finds another model there
     */
    static LlamaModel teacher(CacheDescription description) {
        Loaded loaded = OPEN.computeIfAbsent(description.teacherPath(), path -> {
            Llm llm = Llm.open(Path.of(path));
            return new Loaded(llm, CacheHashes.vocabulary(llm.tokenizer()));
        });
        int vocab = loaded.llm().config().vocabSize();
        if (vocab != description.vocabSize() || !loaded.vocabularyHash().equals(description.tokenizerHash())) {
            throw new TeacherCacheException(Path.of(description.teacherPath()), "on this executor has a vocabulary of "
                    + vocab + " (" + loaded.vocabularyHash() + "); the driver read " + description.vocabSize() + " ("
                    + description.tokenizerHash() + "): every executor must read the same teacher");
        }
        return loaded.llm().model();
    }
}
