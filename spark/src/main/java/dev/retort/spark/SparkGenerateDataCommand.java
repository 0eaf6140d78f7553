package dev.retort.spark;

import dev.retort.cli.GenerateDataOptions;
import dev.retort.distill.synth.GenerateDataJob;
import dev.retort.distill.synth.PromptFile;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.SparkConf;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code retort spark generate-data}: {@code retort generate-data}'s flags, file and last line, the responses written by
 * Spark's executors ({@link GenerationPass}).
 */
@Command(name = "generate-data", mixinStandardHelpOptions = true,
        description = "Let the teacher write responses to prompts on Spark executors; the JSONL is retort generate-data's, byte for byte.")
final class SparkGenerateDataCommand implements Callable<Integer> {
    @Mixin
    GenerateDataOptions generate;
    @Mixin
    SparkOptions spark;
    @Mixin
    ShardOptions sharding;

    @Override
    public Integer call() throws Exception {
        GenerateDataJob.Options o = generate.options();
        Integer partitions = sharding.partitions();   // before Spark starts, as every check here
        GenerateDataJob.requireOutput(o);   // first: the generation can take hours
        SparkConf conf = spark.sparkConf("retort generate-data");
        List<PromptFile.Prompt> prompts = GenerateDataJob.prompts(o);
        ExecutorMemory.of(conf, o.memoryLimit()).require(GenerateDataJob.memoryPlan(o, prompts), "lower --batch or --max-tokens");
        long start = System.nanoTime();
        GenerateDataJob.Summary s = GenerationPass.run(conf, partitions, sharding.directoryFor(o.out()),
                prompts.stream().map(PromptFile.Prompt::text).toList(), o.samples(), o.sampling(), o.batch(),
                TeacherOnExecutors.read(o.teacher(), o.adapter()), responses -> GenerateDataJob.write(o, prompts, responses, System.err));
        GenerateDataJob.Summary whole = new GenerateDataJob.Summary(s.prompts(), s.written(), s.droppedEmpty(), s.droppedTruncated(),
                s.droppedDuplicates(), s.generatedTokens(), (System.nanoTime() - start) / 1e9);
        System.out.println(whole.line(o.out(), o.samples()));
        return 0;
    }
}
