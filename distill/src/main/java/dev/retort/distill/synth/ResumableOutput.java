package dev.retort.distill.synth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The output files of a teacher-writes-data job ({@code generate-data}, {@code synthesize}), appended one chunk
 * of inputs at a time so that a killed run resumes exactly.
 *
 * <p>After each chunk the job's new lines are appended to each file and forced to disk; then a progress file
 * beside the first output ({@code OUT.progress}) records atomically how many inputs are done, how many bytes of
 * each file they wrote, the job's counters and the settings the run was started with. A run started again with
 * the same settings cuts each file back to the bytes the progress file vouches for (a chunk that was half
 * appended) and goes on from the next input: no input is written twice or lost. A new run refuses outputs that
 * already exist (nothing a user wrote is overwritten); a continuation refuses other settings. The progress file
 * is removed by {@link #finish()}.
 */
final class ResumableOutput {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final String job, doneKey, format;
    private final List<Path> files;
    private final Path progressFile;
    private final Map<String, String> fingerprint;
    private final long[] bytes;
    private final StringBuilder[] pending;
    private final Map<String, Long> counts = new LinkedHashMap<>();
    private int done;

    /**
     * @param job         the command, for messages and the progress file's format
     * @param doneKey     the progress file's name for the inputs done (e.g. "prompts_done")
     * @param files       the outputs; the first is --out and has the progress file beside it
     * @param counters    the names of the job's counters, all starting at 0
     * @param fingerprint what must not change between a run and its continuation
     */
    private ResumableOutput(String job, String doneKey, List<Path> files, List<String> counters, Map<String, String> fingerprint) {
        this.job = job;
        this.doneKey = doneKey;
        this.format = "retort " + job + " progress 1";
        this.files = List.copyOf(files);
        this.progressFile = progressFile(files.getFirst());
        this.fingerprint = fingerprint;
        this.bytes = new long[files.size()];
        this.pending = new StringBuilder[files.size()];
        for (int i = 0; i < pending.length; i++) pending[i] = new StringBuilder();
        for (String c : counters) counts.put(c, 0L);
    }

    private static Path progressFile(Path out) {
        return out.resolveSibling(out.getFileName() + ".progress");
    }

    /**
     * Refuses, as {@link #startOrResume} would, outputs that already exist without a progress file: what a job whose
     * teacher runs elsewhere checks before it starts.
     */
    static void requireNewOrUnfinished(String job, List<Path> files) {
        Path out = files.getFirst(), progress = progressFile(out);
        if (Files.exists(progress)) return;
        for (Path f : files) {
            if (Files.exists(f)) {
                throw new IllegalArgumentException("--out " + out + ": " + f + " already exists and is not part of an unfinished "
                        + job + " run (no " + progress.getFileName() + "); choose a new file");
            }
        }
    }

    /** A new run (creating the outputs empty), or the continuation of one whose progress file is there. */
    static ResumableOutput startOrResume(String job, String doneKey, List<Path> files, List<String> counters,
                                         Map<String, String> fingerprint, PrintStream log) throws IOException {
        ResumableOutput o = new ResumableOutput(job, doneKey, files, counters, fingerprint);
        Path out = files.getFirst();
        if (!Files.exists(o.progressFile)) {
            requireNewOrUnfinished(job, files);
            if (out.toAbsolutePath().getParent() != null) Files.createDirectories(out.toAbsolutePath().getParent());
            for (Path f : files) Files.createFile(f);
            o.save();
            return o;
        }
        o.resume(log);
        return o;
    }

    private void resume(PrintStream log) throws IOException {
        Path out = files.getFirst();
        JsonNode saved;
        try {
            saved = JSON.readTree(progressFile.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(progressFile + ": not a " + job + " progress file (" + e.getMessage().lines().findFirst().orElse("") + ")");
        }
        if (saved == null || !format.equals(saved.path("format").asText())) {
            throw new IllegalArgumentException(progressFile + ": not a " + job + " progress file");
        }
        for (Map.Entry<String, String> e : fingerprint.entrySet()) {
            String before = saved.path("settings").path(e.getKey()).asText(null);
            if (!e.getValue().equals(before)) {
                throw new IllegalArgumentException("--out " + out + " is an unfinished run with other settings (" + e.getKey()
                        + " was " + before + ", now " + e.getValue() + "); run it with its own settings or choose a new file");
            }
        }
        done = saved.path(doneKey).asInt();
        for (String c : counts.keySet()) counts.put(c, saved.path(c).asLong());
        JsonNode savedBytes = saved.path("bytes");
        for (int i = 0; i < files.size(); i++) {
            Path f = files.get(i);
            bytes[i] = savedBytes.isArray() ? savedBytes.path(i).asLong() : savedBytes.asLong();
            if (!Files.isRegularFile(f) || Files.size(f) < bytes[i]) {
                throw new IllegalArgumentException("--out " + out + ": " + f + " is shorter than its progress file says (" + bytes[i]
                        + " bytes); it was changed since; choose a new file");
            }
            if (Files.size(f) > bytes[i]) {
                try (FileChannel channel = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    channel.truncate(bytes[i]);   // a chunk that was being appended when the run stopped
                }
            }
        }
        log.printf(Locale.ROOT, "%s: resuming %s after %d inputs%n", job, out, done);
    }

    /** Inputs done by earlier chunks (of this run or the runs it continues). */
    int done() {
        return done;
    }

    long count(String counter) {
        return counts.get(counter);
    }

    void add(String counter, long n) {
        counts.merge(counter, n, Long::sum);
    }

    /** Queues a line (without its newline) for output file {@code file}; written by the next {@link #commit}. */
    void line(int file, String line) {
        pending[file].append(line).append('\n');
    }

    /** Appends the queued lines, forces them to disk, then records atomically that {@code doneNow} inputs are done. */
    void commit(int doneNow) throws IOException {
        for (int i = 0; i < files.size(); i++) {
            try (FileChannel channel = FileChannel.open(files.get(i), StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(pending[i].toString().getBytes(StandardCharsets.UTF_8));
                channel.position(bytes[i]);
                while (b.hasRemaining()) channel.write(b);
                channel.force(true);
                bytes[i] = channel.position();
            }
            pending[i].setLength(0);
        }
        done = doneNow;
        save();
    }

    /** The run is complete: the progress file goes. */
    void finish() throws IOException {
        Files.deleteIfExists(progressFile);
    }

    private void save() throws IOException {
        ObjectNode node = JSON.createObjectNode().put("format", format).put(doneKey, done);
        ArrayNode b = node.putArray("bytes");
        for (long x : bytes) b.add(x);
        counts.forEach(node::put);
        ObjectNode settings = node.putObject("settings");
        fingerprint.forEach(settings::put);
        Path temp = progressFile.resolveSibling("." + progressFile.getFileName() + ".tmp");
        try (FileChannel f = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer buffer = ByteBuffer.wrap(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node));
            while (buffer.hasRemaining()) f.write(buffer);
            f.force(true);
        }
        Files.move(temp, progressFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Every line already written to output {@code file} (for a resumed run's duplicate filters). */
    List<String> writtenLines(int file) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(files.get(file), StandardCharsets.UTF_8)) if (!line.isBlank()) out.add(line);
        return out;
    }
}
