package dev.retort.distill.synth;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Where a teacher-writes-data job ({@code generate-data}, {@code synthesize}) gets its generations: the teacher in
 * this process ({@link #local}), or what Spark's executors wrote (the spark module). Either answers for sequence
 * index i what the teacher samples with seed {@link Sampling#sequenceSeed} of i, so the job's files do not depend on
 * where the teacher ran.
 */
public interface TeacherResponses extends AutoCloseable {
    /** The generations after {@code prompts}, in order; prompt k is sequence {@code firstSequence} + k. */
    List<Generator.Result> generate(List<String> prompts, long firstSequence) throws IOException;

    @Override
    void close() throws IOException;

    /** Opens the source; a job calls it once its output is ready, so a refused output never waits for a teacher. */
    @FunctionalInterface
    interface Opener {
        TeacherResponses open() throws IOException;
    }

    /** The teacher (with {@code adapter}, or null) in this process, {@code batch} sequences generated together. */
    static Opener local(Path teacher, Path adapter, Sampling sampling, int batch) {
        return () -> {
            Llm llm = Llm.open(teacher, adapter);
            return new TeacherResponses() {
                @Override
                public List<Generator.Result> generate(List<String> prompts, long firstSequence) {
                    return llm.generate(prompts, sampling, batch, firstSequence, (index, piece) -> { });
                }

                @Override
                public void close() {
                    llm.close();
                }
            };
        };
    }
}
