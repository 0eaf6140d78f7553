package dev.retort.spark;

import dev.retort.cli.Retort;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code retort spark} command line: Retort's teacher passes ({@code cache-teacher}, {@code generate-data},
 * {@code synthesize}, {@code eval}) as Spark jobs, in local mode
 * ({@code ./retort spark cache-teacher --master local[2] ...}) or under {@code spark-submit} on a cluster (main
 * class {@code dev.retort.spark.RetortSpark}). Same conventions as {@code retort}: one line per failure, exit 2
 * for what the user gave, 1 for a run that failed.
 */
@Command(name = "retort spark", mixinStandardHelpOptions = true, version = "retort spark 0.1.0",
        description = "Retort's teacher passes (cache-teacher, generate-data, synthesize, eval) as Apache Spark jobs.",
        subcommands = {SparkCacheTeacherCommand.class, SparkGenerateDataCommand.class, SparkSynthesizeCommand.class,
                SparkEvalCommand.class, CommandLine.HelpCommand.class})
public final class RetortSpark {
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line (tests run commands through it without exiting the JVM). */
    public static CommandLine commandLine() {
        return Retort.configure(new CommandLine(new RetortSpark()), "retort spark");
    }
}
