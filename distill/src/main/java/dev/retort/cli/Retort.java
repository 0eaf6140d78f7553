package dev.retort.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code retort} command line: one subcommand per job. Started by the {@code ./retort} launcher. */
@Command(name = "retort",
        mixinStandardHelpOptions = true,
        version = "retort 0.1.0",
        description = "Distil Llama-family language models on CPUs, in pure Java.",
        subcommands = {DistillCommand.class, CacheTeacherCommand.class, ExportCommand.class, GenerateCommand.class, TokenizeCommand.class, EvalCommand.class, BenchCommand.class,
                DemoCommand.class, CommandLine.HelpCommand.class})
public final class Retort {

    public static void main(String[] args) {
        int exit = commandLine().execute(args);
        System.exit(exit);
    }

    /** The configured command line (tests run commands through it without exiting the JVM). */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Retort());
        cli.setOverwrittenOptionsAllowed(true);  // a later flag wins, as scripts that append options expect
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            // A user-facing failure is one clear line; the stack trace only with RETORT_DEBUG set.
            cmd.getErr().println("retort " + cmd.getCommandName() + ": " + e.getMessage());
            if (System.getenv("RETORT_DEBUG") != null) e.printStackTrace(cmd.getErr());
            return 2;
        });
        return cli;
    }
}
