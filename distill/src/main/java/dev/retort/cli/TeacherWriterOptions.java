package dev.retort.cli;

import dev.retort.tensor.ThreadPool;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The flags of the commands in which a frozen teacher writes data ({@code generate-data}, {@code synthesize}): the
 * teacher, how many sequences it writes together, how much is written to the output at a time, threads and the
 * memory limit.
 */
final class TeacherWriterOptions {
    @Option(names = "--teacher", required = true, description = "Teacher model directory (Hugging Face layout) or GGUF file.")
    Path teacher;

    @Option(names = "--adapter", description = "Adapter for the teacher: PEFT LoRA, merged on load, or Retort bottleneck adapters, applied as modules.")
    Path adapter;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences generated together (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--chunk", defaultValue = "64", description = "Inputs (prompts or contexts) whose output is written at a time (default ${DEFAULT-VALUE}).")
    int chunk;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    /** Applies --threads. */
    void applyThreads() {
        if (threads != null) ThreadPool.setSharedThreads(threads);
    }
}
