package dev.retort.cli;

import picocli.CommandLine.Command;

/** {@code retort bench ...}: measurements a user can run on their own machine. */
@Command(name = "bench",
        mixinStandardHelpOptions = true,
        description = "Measure kernels and models on this machine.",
        subcommands = {BenchGemmCommand.class, BenchTrainCommand.class, BenchDecodeCommand.class, BenchGkdCommand.class, BenchMetaCommand.class, BenchCheckCommand.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
