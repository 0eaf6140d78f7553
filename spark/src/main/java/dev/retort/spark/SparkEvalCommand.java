package dev.retort.spark;

import dev.retort.cli.EvalOptions;
import dev.retort.models.Evaluation;
import dev.retort.models.Llm;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort spark eval}: {@code retort eval}'s flags and last line ({@code tokens=N ce=X ppl=Y}, the same
 * figures to the last bit), the windows scored by Spark's executors ({@link EvalPass}).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Cross-entropy and perplexity of a model on a text file, its windows scored by Spark executors; the figures are retort eval's.")
final class SparkEvalCommand implements Callable<Integer> {
    @Mixin
    EvalOptions eval;
    @Mixin
    SparkOptions spark;
    @Option(names = "--partitions", description = "Partitions, each one task of whole windows (default: twice Spark's default parallelism; never more than windows).")
    Integer partitions;

    @Override
    public Integer call() throws Exception {
        eval.applyThreads();
        if (partitions != null) CachePass.requirePartitions(partitions);   // before Spark starts, as every check here
        String text = eval.text();
        SparkConf conf = spark.sparkConf("retort eval");
        ExecutorMemory.of(conf, eval.memoryLimit()).require(eval.memoryPlan(), "give a smaller --seq-len");
        List<int[]> windows;
        try (Llm llm = Llm.open(eval.model())) {   // the tokenizer and the context; the executors load the adapter
            windows = Evaluation.windows(eval.tokens(llm, text), eval.window(llm));
        }
        TeacherOnExecutors model = TeacherOnExecutors.read(eval.model(), eval.adapter());
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            int p = Math.min(partitions != null ? partitions : 2 * sc.defaultParallelism(), windows.size());
            System.err.printf(Locale.ROOT, "scoring %d windows in %d partitions on %s%n", windows.size(), p, sc.master());
            System.out.println(EvalPass.evaluate(sc, model, windows, p).line());
        }
        return 0;
    }
}
