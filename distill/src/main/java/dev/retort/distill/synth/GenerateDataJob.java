package dev.retort.distill.synth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.MemoryPlan;
import dev.retort.distill.cache.CacheHashes;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code retort generate-data}: the frozen teacher writes responses to prompts — the data of sequence-level KD
 * (Kim and Rush 2016) — as JSONL lines {@code {"prompt": …, "response": …}}, {@code samples} per prompt.
 *
 * <p>Exact and resumable. Sample j of prompt i draws with its own seed ({@link Sampling#sequenceSeed} of
 * i·samples + j), so the file does not depend on the batch size, the thread count or where a run was stopped.
 * Prompts go in chunks; each chunk's lines are appended and forced to disk, then a progress file beside the
 * output ({@code OUT.progress}) records atomically how many prompts and bytes are done. A killed run, started
 * again with the same command, cuts off a chunk that was half appended and goes on from the next prompt: no
 * prompt is written twice or lost. The progress file is removed when the run ends.
 */
public final class GenerateDataJob {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FORMAT = "retort generate-data progress 1";

    /**
     * @param teacher        the model that writes the responses
     * @param adapter        a PEFT adapter merged into it first, or null
     * @param prompts        the prompt file ({@link PromptFile})
     * @param out            the JSONL file to write
     * @param samples        responses per prompt
     * @param sampling       how the teacher draws (max tokens, temperature, top-p, seed, stop strings…)
     * @param batch          sequences generated together
     * @param chunkPrompts   prompts per chunk written at once
     * @param dropEmpty      leave out responses that are empty or only whitespace
     * @param dropTruncated  leave out responses that hit --max-tokens without an end-of-sequence or stop string
     * @param dropDuplicates leave out a response equal to one already written for the same prompt
     * @param memoryLimit    --memory-limit (e.g. "8g"), or null for the memory available now
     */
    public record Options(Path teacher, Path adapter, Path prompts, Path out, int samples, Sampling sampling, int batch,
                          int chunkPrompts, boolean dropEmpty, boolean dropTruncated, boolean dropDuplicates, String memoryLimit) {
        public Options {
            if (samples < 1) throw new IllegalArgumentException("--samples-per-prompt must be at least 1, got " + samples);
            if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
            if (chunkPrompts < 1) throw new IllegalArgumentException("--chunk must be at least 1, got " + chunkPrompts);
        }

        /** What must not change between a run and its continuation (batch size and chunking may). */
        Map<String, String> fingerprint(String promptsHash) {
            Map<String, String> m = new LinkedHashMap<>();
            m.put("teacher", teacher.toAbsolutePath().normalize().toString());
            m.put("adapter", adapter == null ? "" : adapter.toAbsolutePath().normalize().toString());
            m.put("prompts", promptsHash);
            m.put("samples", Integer.toString(samples));
            m.put("sampling", sampling.toString());
            m.put("filters", "empty=" + dropEmpty + " truncated=" + dropTruncated + " duplicates=" + dropDuplicates);
            return m;
        }
    }

    /** What a run wrote and left out, over the whole file (earlier runs of a resumed one included). */
    public record Summary(int prompts, long written, long droppedEmpty, long droppedTruncated, long droppedDuplicates,
                          long generatedTokens, double seconds) {
        /** The last line {@code generate-data} prints. */
        public String line(Path out, int samples) {
            return String.format(Locale.ROOT,
                    "generate-data: %d lines in %s (%d prompts x %d samples; dropped %d empty, %d truncated, %d duplicate); "
                            + "%d tokens generated in %.1f s, %.1f tokens/s",
                    written, out, prompts, samples, droppedEmpty, droppedTruncated, droppedDuplicates, generatedTokens, seconds,
                    generatedTokens / Math.max(seconds, 1e-9));
        }
    }

    private GenerateDataJob() {}

    public static Summary run(Options o, PrintStream log) throws IOException {
        dev.retort.models.tokenizer.Tokenizer tokenizer = dev.retort.models.tokenizer.Tokenizers.load(o.teacher());
        List<PromptFile.Prompt> prompts = PromptFile.read(o.prompts(), dev.retort.models.tokenizer.ChatTemplate.read(o.teacher(), tokenizer).orElse(null));
        // the memory plan, before the teacher loads
        MemoryPlan.generation(o.teacher(), prompts.stream().map(PromptFile.Prompt::text).toList(),
                        Math.min(o.batch(), (long) prompts.size() * o.samples()), o.sampling().maxTokens())
                .requireWithin(MemoryPlan.limit(o.memoryLimit()), MemoryPlan.GENERATION_ADVICE);
        Map<String, String> fingerprint = o.fingerprint(CacheHashes.file(o.prompts()));
        Path progressFile = o.out().resolveSibling(o.out().getFileName() + ".progress");
        Progress progress = Progress.startOrResume(o.out(), progressFile, fingerprint, log);
        Set<String> seen = o.dropDuplicates() ? writtenPairs(o.out()) : new HashSet<>();
        long start = System.nanoTime();
        long tokensThisRun = 0;
        try (Llm llm = Llm.open(o.teacher(), o.adapter());
             FileChannel file = FileChannel.open(o.out(), StandardOpenOption.WRITE)) {
            while (progress.promptsDone < prompts.size()) {
                int from = progress.promptsDone, to = Math.min(prompts.size(), from + o.chunkPrompts());
                List<String> texts = new ArrayList<>();
                List<PromptFile.Prompt> asked = new ArrayList<>();
                for (int i = from; i < to; i++) {
                    for (int j = 0; j < o.samples(); j++) {
                        texts.add(prompts.get(i).text());
                        asked.add(prompts.get(i));
                    }
                }
                List<Generator.Result> results = llm.generate(texts, o.sampling(), o.batch(), (long) from * o.samples(),
                        (index, piece) -> { });
                StringBuilder lines = new StringBuilder();
                for (int k = 0; k < results.size(); k++) {
                    Generator.Result r = results.get(k);
                    tokensThisRun += r.generated().length;
                    progress.generatedTokens += r.generated().length;
                    String response = r.text();
                    ObjectNode line = line(asked.get(k), response);
                    if (o.dropEmpty() && response.isBlank()) progress.droppedEmpty++;
                    else if (o.dropTruncated() && r.finish() == Generator.Finish.LENGTH) progress.droppedTruncated++;
                    else if (o.dropDuplicates() && !seen.add(duplicateKey(line))) progress.droppedDuplicates++;
                    else {
                        lines.append(line).append('\n');
                        progress.written++;
                    }
                }
                ByteBuffer bytes = ByteBuffer.wrap(lines.toString().getBytes(StandardCharsets.UTF_8));
                file.position(progress.bytes);
                while (bytes.hasRemaining()) file.write(bytes);
                file.force(true);
                progress.bytes = file.position();
                progress.promptsDone = to;
                progress.save(progressFile, fingerprint);
                log.printf(Locale.ROOT, "generate-data: %d/%d prompts, %d lines%n", to, prompts.size(), progress.written);
            }
        }
        Files.deleteIfExists(progressFile);
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Summary(prompts.size(), progress.written, progress.droppedEmpty, progress.droppedTruncated,
                progress.droppedDuplicates, tokensThisRun, seconds);
    }

    /** {"prompt", "response"}, or for a conversation {"messages": its turns and the assistant's response}. */
    private static ObjectNode line(PromptFile.Prompt prompt, String response) {
        if (prompt.conversation() == null) return JSON.createObjectNode().put("prompt", prompt.text()).put("response", response);
        ObjectNode line = JSON.createObjectNode();
        var messages = line.putArray("messages");
        for (var m : prompt.conversation()) messages.addObject().put("role", m.role()).put("content", m.content());
        messages.addObject().put("role", "assistant").put("content", response);
        return line;
    }

    /** The (prompt, response) pairs already in the output, so a resumed run drops the same duplicates. */
    private static Set<String> writtenPairs(Path out) throws IOException {
        Set<String> pairs = new HashSet<>();
        for (String line : Files.readAllLines(out, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) pairs.add(duplicateKey(JSON.readTree(line)));
        }
        return pairs;
    }

    /** What makes two output lines duplicates: the same prompt (or conversation before the answer) and answer. */
    private static String duplicateKey(JsonNode line) throws IOException {
        if (!line.has("messages")) return line.get("prompt").asText() + '\0' + line.get("response").asText();
        JsonNode turns = line.get("messages");
        List<JsonNode> before = new ArrayList<>();
        for (int i = 0; i < turns.size() - 1; i++) before.add(turns.get(i));
        return JSON.writeValueAsString(before) + '\0' + turns.get(turns.size() - 1).path("content").asText();
    }

    /** How far a run got: kept in {@code OUT.progress}, replaced atomically after every chunk. */
    private static final class Progress {
        int promptsDone;
        long bytes, written, droppedEmpty, droppedTruncated, droppedDuplicates, generatedTokens;

        /**
         * A new run (the output must not exist: it is created empty), or the continuation of one whose progress file
         * is there with the same settings: the output is cut back to the bytes that file vouches for.
         */
        static Progress startOrResume(Path out, Path progressFile, Map<String, String> fingerprint, PrintStream log) throws IOException {
            Progress p = new Progress();
            if (!Files.exists(progressFile)) {
                if (Files.exists(out)) {
                    throw new IllegalArgumentException("--out " + out + " already exists and is not an unfinished generate-data run "
                            + "(no " + progressFile.getFileName() + "); choose a new file");
                }
                if (out.getParent() != null) Files.createDirectories(out.getParent());
                Files.createFile(out);
                p.save(progressFile, fingerprint);
                return p;
            }
            JsonNode saved;
            try {
                saved = JSON.readTree(progressFile.toFile());
            } catch (IOException e) {
                throw new IllegalArgumentException(progressFile + ": not a generate-data progress file (" + e.getMessage().lines().findFirst().orElse("") + ")");
            }
            if (saved == null || !FORMAT.equals(saved.path("format").asText())) {
                throw new IllegalArgumentException(progressFile + ": not a generate-data progress file");
            }
            for (Map.Entry<String, String> e : fingerprint.entrySet()) {
                String before = saved.path("settings").path(e.getKey()).asText(null);
                if (!e.getValue().equals(before)) {
                    throw new IllegalArgumentException("--out " + out + " is an unfinished run with other settings (" + e.getKey()
                            + " was " + before + ", now " + e.getValue() + "); run it with its own settings or choose a new file");
                }
            }
            p.promptsDone = saved.path("prompts_done").asInt();
            p.bytes = saved.path("bytes").asLong();
            p.written = saved.path("written").asLong();
            p.droppedEmpty = saved.path("dropped_empty").asLong();
            p.droppedTruncated = saved.path("dropped_truncated").asLong();
            p.droppedDuplicates = saved.path("dropped_duplicates").asLong();
            p.generatedTokens = saved.path("generated_tokens").asLong();
            if (!Files.isRegularFile(out) || Files.size(out) < p.bytes) {
                throw new IllegalArgumentException("--out " + out + " is shorter than its progress file says (" + p.bytes
                        + " bytes); it was changed since; choose a new file");
            }
            if (Files.size(out) > p.bytes) {
                try (FileChannel f = FileChannel.open(out, StandardOpenOption.WRITE)) {
                    f.truncate(p.bytes);   // a chunk that was being appended when the run stopped
                }
            }
            log.printf(Locale.ROOT, "generate-data: resuming %s after %d prompts (%d lines)%n", out, p.promptsDone, p.written);
            return p;
        }

        void save(Path progressFile, Map<String, String> fingerprint) throws IOException {
            ObjectNode node = JSON.createObjectNode().put("format", FORMAT).put("prompts_done", promptsDone).put("bytes", bytes)
                    .put("written", written).put("dropped_empty", droppedEmpty).put("dropped_truncated", droppedTruncated)
                    .put("dropped_duplicates", droppedDuplicates).put("generated_tokens", generatedTokens);
            ObjectNode settings = node.putObject("settings");
            fingerprint.forEach(settings::put);
            Path temp = progressFile.resolveSibling("." + progressFile.getFileName() + ".tmp");
            try (FileChannel f = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(node));
                while (b.hasRemaining()) f.write(b);
                f.force(true);
            }
            Files.move(temp, progressFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
