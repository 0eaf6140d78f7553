package dev.retort.distill.experiment;

import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@code retort} command run in a JVM of its own, for an arm whose peak memory is part of what is measured: a
 * process's high-water mark only says something about one run when the process ran nothing else. The child is this
 * JVM's java and class path with Retort's flags, the serial collector (G1 sizes its heap by allocation rate, so the
 * garbage a run leaves would decide its peak) and this JVM's thread count.
 */
final class ChildJvm {
    private ChildJvm() {}

    /**
     * Runs {@code retort ARGS --threads N}, its output (stdout and stderr) into {@code logFile}, and returns the
     * output's lines; a non-zero exit is an {@link IllegalStateException} naming {@code what}, the last line and the log.
     */
    static List<String> retort(List<String> args, Path logFile, String what) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), "dev.retort.cli.Retort"));
        command.addAll(args);
        command.addAll(List.of("--threads", Integer.toString(ThreadPool.shared().threads())));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(logFile.toFile()).start();
        int exit;
        try {
            exit = p.waitFor();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException(what + ": interrupted while its process ran");
        }
        List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
        if (exit != 0) {
            throw new IllegalStateException(what + ": its process exited with " + exit + " ("
                    + (lines.isEmpty() ? "no output" : lines.getLast()) + "); its log: " + logFile);
        }
        return lines;
    }
}
