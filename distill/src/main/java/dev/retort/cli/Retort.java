package dev.retort.cli;

import dev.retort.distill.cache.TeacherCacheException;
import dev.retort.models.hf.ModelFileException;
import java.io.IOException;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code retort} command line: one subcommand per job. Started by the {@code ./retort} launcher. */
@Command(name = "retort",
        mixinStandardHelpOptions = true,
        version = "retort 0.1.0",
        description = "Distil Llama-family language models on CPUs, in pure Java.",
        subcommands = {DistillCommand.class, CacheTeacherCommand.class, GenerateDataCommand.class, SynthesizeCommand.class, IndexCommand.class, AnswerCommand.class, EvalQaCommand.class, ExportCommand.class, GenerateCommand.class, TokenizeCommand.class, EvalCommand.class, BenchCommand.class,
                DemoCommand.class, ExperimentCommand.class, CommandLine.HelpCommand.class})
public final class Retort {

    public static void main(String[] args) {
        int exit = commandLine().execute(args);
        System.exit(exit);
    }

    /** Whether a failure is about the user's input (exit 2) rather than the run itself (exit 1). */
    static boolean isUsageError(Exception e) {
        return e instanceof IllegalArgumentException || e instanceof ModelFileException || e instanceof TeacherCacheException
                || e instanceof UncheckedIOException || e instanceof IOException;
    }

    /** The configured command line (tests run commands through it without exiting the JVM). */
    public static CommandLine commandLine() {
        return configure(new CommandLine(new Retort()), "retort");
    }

    /**
     * Gives {@code cli} Retort's conventions (another program's command line too, such as {@code retort spark}):
     * a later flag wins, a user-facing failure is one line naming {@code program} and the command, and the exit
     * code says whose fault it was.
     */
    public static CommandLine configure(CommandLine cli, String program) {
        cli.setOverwrittenOptionsAllowed(true);  // a later flag wins, as scripts that append options expect
        // A user-facing failure is one clear line (the stack trace only with RETORT_DEBUG set). Exit codes: 2 when
        // what the user gave is wrong — a flag, a value, a file it names (missing, unreadable, damaged) — and 1
        // when a run fails while running (it diverged, ran out of memory, or hit an internal error).
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine cmd = e.getCommandLine();
            cmd.getErr().println(program + " " + cmd.getCommandName() + ": " + e.getMessage() + " (see '" + program + " "
                    + cmd.getCommandName() + " --help')");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println(program + " " + cmd.getCommandName() + ": " + e.getMessage());
            if (System.getenv("RETORT_DEBUG") != null) e.printStackTrace(cmd.getErr());
            return isUsageError(e) ? 2 : 1;
        });
        return cli;
    }
}
