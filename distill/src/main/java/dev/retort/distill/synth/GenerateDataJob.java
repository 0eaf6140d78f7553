package dev.retort.distill.synth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.MemoryPlan;
import dev.retort.distill.cache.CacheHashes;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
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
 * Prompts go in chunks through a {@link ResumableOutput}: a killed run, started again with the same command, cuts
 * off a chunk that was half appended and goes on from the next prompt, so no prompt is written twice or lost.
 * {@link #write} takes its generations from a {@link TeacherResponses}: the teacher in this process, or the ones
 * Spark's executors wrote ({@code retort spark generate-data}), which therefore writes this very file.
 */
public final class GenerateDataJob {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String JOB = "generate-data";
    private static final String WRITTEN = "written", DROPPED_EMPTY = "dropped_empty", DROPPED_TRUNCATED = "dropped_truncated",
            DROPPED_DUPLICATES = "dropped_duplicates", GENERATED_TOKENS = "generated_tokens";

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
        List<PromptFile.Prompt> prompts = prompts(o);
        memoryPlan(o, prompts).requireWithin(MemoryPlan.limit(o.memoryLimit()), MemoryPlan.GENERATION_ADVICE);   // before the teacher loads
        return write(o, prompts, TeacherResponses.local(o.teacher(), o.adapter(), o.sampling(), o.batch()), log);
    }

    /** Refuses an {@code --out} that exists and is not an unfinished run, before any teacher is asked. */
    public static void requireOutput(Options o) {
        ResumableOutput.requireNewOrUnfinished(JOB, List.of(o.out()));
    }

    /** The prompts of {@code --prompts}, conversations rendered with the teacher's chat template. */
    public static List<PromptFile.Prompt> prompts(Options o) throws IOException {
        dev.retort.models.tokenizer.Tokenizer tokenizer = dev.retort.models.tokenizer.Tokenizers.load(o.teacher());
        return PromptFile.read(o.prompts(), dev.retort.models.tokenizer.ChatTemplate.read(o.teacher(), tokenizer).orElse(null));
    }

    /** The plan of one process generating {@code prompts}: the teacher's weights and one batch of sequences. */
    public static MemoryPlan memoryPlan(Options o, List<PromptFile.Prompt> prompts) {
        return MemoryPlan.generation(o.teacher(), prompts.stream().map(PromptFile.Prompt::text).toList(),
                Math.min(o.batch(), (long) prompts.size() * o.samples()), o.sampling().maxTokens());
    }

    /**
     * Writes (or continues) {@code --out}: the responses to {@code prompts}, chunk by chunk, from {@code teacher} —
     * sample j of prompt i is sequence i·samples + j — filtered and committed as one run of the command does it.
     */
    public static Summary write(Options o, List<PromptFile.Prompt> prompts, TeacherResponses.Opener teacher, PrintStream log)
            throws IOException {
        Map<String, String> fingerprint = o.fingerprint(CacheHashes.file(o.prompts()));
        ResumableOutput output = ResumableOutput.startOrResume(JOB, "prompts_done", List.of(o.out()),
                List.of(WRITTEN, DROPPED_EMPTY, DROPPED_TRUNCATED, DROPPED_DUPLICATES, GENERATED_TOKENS), fingerprint, log);
        Set<String> seen = new HashSet<>();
        if (o.dropDuplicates()) for (String line : output.writtenLines(0)) seen.add(duplicateKey(JSON.readTree(line)));
        long start = System.nanoTime();
        long tokensThisRun = 0;
        try (TeacherResponses responses = teacher.open()) {
            while (output.done() < prompts.size()) {
                int from = output.done(), to = Math.min(prompts.size(), from + o.chunkPrompts());
                List<String> texts = new ArrayList<>();
                List<PromptFile.Prompt> asked = new ArrayList<>();
                for (int i = from; i < to; i++) {
                    for (int j = 0; j < o.samples(); j++) {
                        texts.add(prompts.get(i).text());
                        asked.add(prompts.get(i));
                    }
                }
                List<Generator.Result> results = responses.generate(texts, (long) from * o.samples());
                for (int k = 0; k < results.size(); k++) {
                    Generator.Result r = results.get(k);
                    tokensThisRun += r.generated().length;
                    output.add(GENERATED_TOKENS, r.generated().length);
                    String response = r.text();
                    ObjectNode line = line(asked.get(k), response);
                    if (o.dropEmpty() && response.isBlank()) output.add(DROPPED_EMPTY, 1);
                    else if (o.dropTruncated() && r.finish() == Generator.Finish.LENGTH) output.add(DROPPED_TRUNCATED, 1);
                    else if (o.dropDuplicates() && !seen.add(duplicateKey(line))) output.add(DROPPED_DUPLICATES, 1);
                    else {
                        output.line(0, line.toString());
                        output.add(WRITTEN, 1);
                    }
                }
                output.commit(to);
                log.printf(Locale.ROOT, "generate-data: %d/%d prompts, %d lines%n", to, prompts.size(), output.count(WRITTEN));
            }
        }
        output.finish();
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Summary(prompts.size(), output.count(WRITTEN), output.count(DROPPED_EMPTY), output.count(DROPPED_TRUNCATED),
                output.count(DROPPED_DUPLICATES), tokensThisRun, seconds);
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

    /** What makes two output lines duplicates: the same prompt (or conversation before the answer) and answer. */
    private static String duplicateKey(JsonNode line) throws IOException {
        if (!line.has("messages")) return line.get("prompt").asText() + '\0' + line.get("response").asText();
        JsonNode turns = line.get("messages");
        List<JsonNode> before = new ArrayList<>();
        for (int i = 0; i < turns.size() - 1; i++) before.add(turns.get(i));
        return JSON.writeValueAsString(before) + '\0' + turns.get(turns.size() - 1).path("content").asText();
    }
}
