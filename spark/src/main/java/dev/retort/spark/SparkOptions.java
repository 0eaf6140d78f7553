package dev.retort.spark;

import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.SparkConf;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Where a job runs: {@code --master} and {@code --conf}, as {@code spark-submit} takes them. Under
 * {@code spark-submit} both may be left out; its settings arrive as system properties, which a {@link SparkConf}
 * reads.
 */
final class SparkOptions {
    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--master", description = "Where to run: local[N] (N tasks at once in this JVM), spark://HOST:PORT, yarn, "
            + "k8s://URL (default: spark-submit's).")
    String master;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "A Spark setting, as for spark-submit (repeatable).")
    Map<String, String> conf = new LinkedHashMap<>();

    /** The job's settings; refuses a run with no master. */
    SparkConf sparkConf(String appName) {
        SparkConf c = new SparkConf().setAppName(appName);
        conf.forEach(c::set);
        if (master != null) c.setMaster(master);
        if (!c.contains("spark.master")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--master is required outside spark-submit, "
                    + "e.g. --master local[2] (or spark://HOST:7077, yarn, k8s://URL)");
        }
        if (!c.contains("spark.ui.showConsoleProgress") && System.console() != null) {
            c.set("spark.ui.showConsoleProgress", "true");   // a progress bar of tasks done, in a terminal
        }
        return c;
    }
}
