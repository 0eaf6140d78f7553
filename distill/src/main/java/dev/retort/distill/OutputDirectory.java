package dev.retort.distill;

import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The rules that keep a user's files safe in {@code --out}: Retort writes into an empty (or new) directory, or
 * into a previous run of its own, which it continues ({@code --resume}) or replaces ({@code --overwrite}) — and
 * then deletes only files it writes itself. It never writes into the teacher's or the student's directory.
 */
public final class OutputDirectory {
    private OutputDirectory() {}

    /** The files a run, the exporter and the adapter writer put in an output directory and its subdirectories. */
    static final Set<String> WRITTEN_BY_RETORT = Set.of(
            "checkpoint.safetensors", "metrics.jsonl", "meta.jsonl", "report.html",
            "config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "tokenizer.model", "special_tokens_map.json", "adapter_config.json", "adapter_model.safetensors",
            "prune_config.json", "prune_scorer.safetensors");

    /** Checks {@code --out} before a run touches anything; one line naming the directory and what to do. */
    public static void check(OutputOptions output, ModelOptions models) {
        Path out = output.out();
        if (out.toString().isBlank()) throw new IllegalArgumentException("--out is empty; give the directory the run should write");
        for (Path model : new Path[] {models.teacher(), models.student()}) {
            if (model != null && Files.isDirectory(model) && Files.isDirectory(out) && sameFile(out, model)) {
                throw new IllegalArgumentException("--out " + out + " is the model directory " + model + "; give a directory of its own");
            }
        }
        if (!Files.isDirectory(out)) return;
        List<Path> entries = list(out);
        if (entries.isEmpty()) return;
        boolean previousRun = Files.exists(out.resolve("metrics.jsonl")) || Files.exists(out.resolve("checkpoint.safetensors"));
        if (!previousRun) {
            throw new IllegalArgumentException("--out " + out + " is not empty and holds no Retort run (it has "
                    + entries.get(0).getFileName() + "); give an empty or new directory");
        }
        if (!output.resume() && !output.overwrite()) {
            throw new IllegalArgumentException("--out " + out + " holds a previous run; give --resume to continue it or --overwrite to replace its outputs");
        }
        for (Path entry : entries) {   // the subdirectories the run will replace must hold only what Retort wrote
            if (Files.isDirectory(entry)) foreignFile(entry).ifPresent(f -> {
                throw new IllegalArgumentException(f + ": Retort did not write this file and will not delete it; move it or give another --out");
            });
        }
    }

    private static java.util.Optional<Path> foreignFile(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile).filter(p -> !writtenByRetort(p)).findFirst();
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot read it: " + e.getMessage(), e);
        }
    }

    /**
     * {@code dir} emptied of what Retort wrote there, so that it can be written anew; a file Retort does not
     * write (a user's notes, say) stops this with its name, and nothing is deleted. Returns {@code dir}.
     */
    public static Path fresh(Path dir) {
        if (!Files.exists(dir)) return dir;
        List<Path> all;
        try (Stream<Path> walk = Files.walk(dir)) {
            all = walk.sorted(Comparator.reverseOrder()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot read the previous output: " + e.getMessage(), e);
        }
        for (Path p : all) {
            if (Files.isRegularFile(p) && !writtenByRetort(p)) {
                throw new IllegalArgumentException(p + ": Retort did not write this file and will not delete it; move it "
                        + "or give another --out");
            }
        }
        try {
            for (Path p : all) Files.delete(p);   // files first, then the (now empty) directories
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot replace the previous output: " + e.getMessage(), e);
        }
        return dir;
    }

    private static boolean writtenByRetort(Path file) {
        String name = file.getFileName().toString();
        return WRITTEN_BY_RETORT.contains(name) || (name.startsWith(".") && name.endsWith(".tmp"));   // a killed writer's temporary
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("--out " + dir + ": cannot list it: " + e.getMessage(), e);
        }
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }
}
