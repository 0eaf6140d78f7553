package dev.retort.spark;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.api.java.function.Function2;

/**
 * The task of a generation job, run on an executor for one partition: the executor's teacher
 * ({@link ExecutorTeachers}) writes {@code samples} generations per prompt of the partition's ranges — sample j of
 * input i seeded as sequence i·samples + j, as on one machine — into the partition's {@link GeneratedShard}.
 */
final class WriteGenerations implements Function2<Integer, Iterator<PromptRange>, Iterator<ShardWritten>> {
    private final TeacherOnExecutors teacher;
    private final int samples;
    private final Sampling sampling;
    private final int batch;
    private final String directory;   // a Path is not Serializable

    WriteGenerations(TeacherOnExecutors teacher, int samples, Sampling sampling, int batch, Path directory) {
        this.teacher = teacher;
        this.samples = samples;
        this.sampling = sampling;
        this.batch = batch;
        this.directory = directory.toString();
    }

    @Override
    public Iterator<ShardWritten> call(Integer partition, Iterator<PromptRange> ranges) {
        if (!ranges.hasNext()) return Collections.emptyIterator();
        Llm llm = ExecutorTeachers.open(teacher);
        List<GeneratedShard.Generated> generated = new ArrayList<>();
        int firstInput = -1;
        long tokens = 0;
        while (ranges.hasNext()) {
            PromptRange range = ranges.next();
            if (firstInput < 0) firstInput = range.first();
            List<String> texts = new ArrayList<>();
            for (String prompt : range.prompts()) for (int j = 0; j < samples; j++) texts.add(prompt);
            long firstSequence = (long) range.first() * samples;
            List<Generator.Result> results = llm.generate(texts, sampling, batch, firstSequence, (index, piece) -> { });
            for (int k = 0; k < results.size(); k++) {
                generated.add(new GeneratedShard.Generated(firstSequence + k, texts.get(k), results.get(k)));
                tokens += results.get(k).generated().length;
            }
        }
        // An exception above (the task killed, a generation failing) leaves no shard: it is written whole or not at all.
        GeneratedShard.write(ShardDirectory.shard(Path.of(directory), partition, ShardDirectory.GENERATED), generated);
        return List.of(new ShardWritten(partition, firstInput, generated.size(), tokens)).iterator();
    }
}
