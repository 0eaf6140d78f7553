package dev.retort.spark;

import dev.retort.cli.SynthesizeOptions;
import dev.retort.distill.synth.SynthesizeJob;
import java.util.concurrent.Callable;
import org.apache.spark.SparkConf;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code retort spark synthesize}: {@code retort synthesize}'s flags, files and last line, the triplets written by
 * Spark's executors ({@link GenerationPass}) and judged on the driver.
 */
@Command(name = "synthesize", mixinStandardHelpOptions = true,
        description = "Let the teacher write (context, question, answer) triplets on Spark executors; the files are retort synthesize's, byte for byte.")
final class SparkSynthesizeCommand implements Callable<Integer> {
    @Mixin
    SynthesizeOptions synthesize;
    @Mixin
    SparkOptions spark;
    @Mixin
    ShardOptions sharding;

    @Override
    public Integer call() throws Exception {
        SynthesizeJob.Options o = synthesize.options();
        Integer partitions = sharding.partitions();   // before Spark starts, as every check here
        SynthesizeJob.requireOutput(o);   // first: the generation can take hours
        SparkConf conf = spark.sparkConf("retort synthesize");
        SynthesizeJob.Prompts prompts = SynthesizeJob.prompts(o);
        ExecutorMemory.of(conf, o.memoryLimit()).require(SynthesizeJob.memoryPlan(o, prompts), "lower --batch or --max-tokens");
        long start = System.nanoTime();
        SynthesizeJob.Summary s = GenerationPass.run(conf, partitions, sharding.directoryFor(o.out()),
                prompts.texts(), o.samples(), o.sampling(), o.batch(), TeacherOnExecutors.read(o.teacher(), o.adapter()),
                responses -> SynthesizeJob.write(o, prompts, responses, System.err));
        SynthesizeJob.Summary whole = new SynthesizeJob.Summary(s.contexts(), s.kept(), s.rejected(), s.generatedTokens(),
                (System.nanoTime() - start) / 1e9);
        System.out.println(whole.line(o.out(), o.samples()));
        return 0;
    }
}
