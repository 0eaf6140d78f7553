package dev.retort.distill.synth;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.MemoryPlan;
import dev.retort.distill.cache.CacheHashes;
import dev.retort.distill.data.JsonLines;
import dev.retort.distill.qa.Contexts;
import dev.retort.distill.qa.QaFormat;
import dev.retort.distill.qa.TripletFilters;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * {@code retort synthesize}: a frozen teacher reads the contexts of a document collection and writes a question and
 * its answer for each — the Syn-LeQA step of Ace-Attorney (Italiani, Moro, Ragazzi 2025) — keeping the triplets that
 * pass {@link TripletFilters}.
 *
 * <p>Each kept triplet is one line of {@code --out}: {@code context_id}, {@code context}, {@code question},
 * {@code answer}, and the student's training pair {@code prompt} and {@code completion} ({@link TrainOn}), which {@code retort distill --method seqkd --data OUT} reads as it is. Every
 * rejected one is a line of {@code OUT.rejected.jsonl} (the --out name with {@code .rejected} before its extension)
 * with what the teacher wrote and the filter that rejected it; the summary line counts each filter.
 *
 * <p>The teacher continues {@link QaFormat#fill} of the template with each context: --template FILE, or
 * {@link QaFormat#DEFAULT_TEMPLATE}; for a model with a chat template the filled template (default
 * {@link QaFormat#DEFAULT_CHAT_TEMPLATE}) is the user's message, rendered with the generation prompt. Sample j of
 * context i draws with {@link Sampling#sequenceSeed} of i·samples + j, and contexts go in chunks through a
 * {@link ResumableOutput}, so the files are exact and a killed run resumes where it stopped. {@link #write} takes
 * the generations from a {@link TeacherResponses} (this process's teacher, or Spark's executors for
 * {@code retort spark synthesize}), so both commands write the same files.
 */
public final class SynthesizeJob {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String JOB = "synthesize";
    private static final String GENERATED_TOKENS = "generated_tokens";

    /**
     * @param teacher           the frozen model that writes the triplets
     * @param adapter           a PEFT adapter merged into it first, or null
     * @param docs              the document collection ({@link Contexts#documents})
     * @param out               the JSONL file of kept triplets
     * @param contextWords      --context-tokens, the context budget in words ({@link Contexts})
     * @param template          --template FILE, or null for the default
     * @param samples           triplets asked of the teacher per context
     * @param sampling          how the teacher draws
     * @param batch             sequences generated together
     * @param chunkContexts     contexts per chunk written at once
     * @param minSupport        --min-support ({@link TripletFilters})
     * @param trainOn           --train-on: what the student's completion is
     * @param memoryLimit       --memory-limit, or null
     */
    public record Options(Path teacher, Path adapter, Path docs, Path out, int contextWords, Path template, int samples,
                          Sampling sampling, int batch, int chunkContexts, double minSupport, TrainOn trainOn, String memoryLimit) {
        public Options {
            if (samples < 1) throw new IllegalArgumentException("--samples-per-context must be at least 1, got " + samples);
            if (batch < 1) throw new IllegalArgumentException("--batch must be at least 1, got " + batch);
            if (chunkContexts < 1) throw new IllegalArgumentException("--chunk must be at least 1, got " + chunkContexts);
            if (!(minSupport >= 0 && minSupport <= 1)) throw new IllegalArgumentException("--min-support must be in [0, 1], got " + minSupport);
        }
    }

    /**
     * What the student learns from a triplet (--train-on): {@code answer} is the reading — prompt = context +
     * question, completion = the answer; {@code question-answer} (the default) — prompt = the context, completion =
     * the question and its answer — teaches it to ask as well, which the Selective Generative Paradigm needs: its
     * judgement of a candidate context is its likelihood of the question there. On the demo document world a student
     * trained on answers alone chose the gold context among BM25's five for 67 of 195 questions (BM25 alone: 90); one
     * trained on questions and answers, for 174 (bench/RESULTS.md).
     */
    public enum TrainOn {
        ANSWER("answer"), QUESTION_ANSWER("question-answer");

        public final String flag;

        TrainOn(String flag) {
            this.flag = flag;
        }

        public static TrainOn parse(String flag) {
            for (TrainOn t : values()) if (t.flag.equals(flag)) return t;
            throw new IllegalArgumentException("--train-on must be answer or question-answer, got " + flag);
        }
    }

    /** What the whole file holds (earlier runs of a resumed one included). */
    public record Summary(int contexts, long kept, Map<String, Long> rejected, long generatedTokens, double seconds) {
        /** The last line {@code synthesize} prints. */
        public String line(Path out, int samples) {
            StringBuilder r = new StringBuilder();
            rejected.forEach((name, n) -> r.append(r.isEmpty() ? "" : ", ").append(n).append(' ').append(name));
            return String.format(Locale.ROOT, "synthesize: %d triplets in %s from %d contexts x %d samples; rejected %s; "
                    + "%d tokens generated in %.1f s, %.1f tokens/s", kept, out, contexts, samples, r, generatedTokens, seconds,
                    generatedTokens / Math.max(seconds, 1e-9));
        }
    }

    private SynthesizeJob() {}

    /** The rejected-triplets file beside {@code out}: {@code qa.jsonl} → {@code qa.rejected.jsonl}. */
    public static Path rejectedFile(Path out) {
        String name = out.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return out.resolveSibling(dot > 0 ? name.substring(0, dot) + ".rejected" + name.substring(dot) : name + ".rejected");
    }

    public static Summary run(Options o, PrintStream log) throws IOException {
        Prompts prompts = prompts(o);
        memoryPlan(o, prompts).requireWithin(MemoryPlan.limit(o.memoryLimit()), MemoryPlan.GENERATION_ADVICE);   // before the teacher loads
        return write(o, prompts, TeacherResponses.local(o.teacher(), o.adapter(), o.sampling(), o.batch()), log);
    }

    /** Refuses an {@code --out} (or its rejected file) that exists and is not an unfinished run, before any teacher is asked. */
    public static void requireOutput(Options o) {
        ResumableOutput.requireNewOrUnfinished(JOB, outputs(o));
    }

    private static List<Path> outputs(Options o) {
        return List.of(o.out(), rejectedFile(o.out()));
    }

    /**
     * What the teacher is asked: the contexts of {@code --docs}, the template, and per context the prompt text —
     * the filled template, rendered as the user's message for a model with a chat template.
     */
    public record Prompts(List<Contexts.Context> contexts, String template, List<String> texts) {}

    /** The contexts and their prompts, as {@link #run} asks the teacher. */
    public static Prompts prompts(Options o) throws IOException {
        List<Contexts.Context> contexts = Contexts.read(o.docs(), o.contextWords());
        Tokenizer tokenizer = Tokenizers.load(o.teacher());
        Optional<ChatTemplate> chat = ChatTemplate.read(o.teacher(), tokenizer);
        String template = template(o.template(), chat.isPresent());
        List<String> texts = new ArrayList<>();
        for (Contexts.Context c : contexts) {
            String filled = QaFormat.fill(template, c.text());
            texts.add(chat.isPresent() ? chat.get().render(List.of(new ChatTemplate.Message("user", filled)), true) : filled);
        }
        return new Prompts(contexts, template, texts);
    }

    /** The plan of one process generating for {@code prompts}: the teacher's weights and one batch of sequences. */
    public static MemoryPlan memoryPlan(Options o, Prompts prompts) {
        return MemoryPlan.generation(o.teacher(), prompts.texts(), Math.min(o.batch(), (long) prompts.texts().size() * o.samples()),
                o.sampling().maxTokens());
    }

    /**
     * Writes (or continues) {@code --out} and its rejected file: the teacher's triplets for {@code prompts}, chunk by
     * chunk, from {@code teacher} — sample j of context i is sequence i·samples + j — judged and committed as one
     * run of the command does it.
     */
    public static Summary write(Options o, Prompts prompts, TeacherResponses.Opener teacher, PrintStream log) throws IOException {
        List<Contexts.Context> contexts = prompts.contexts();
        List<String> counters = new ArrayList<>(List.of("kept"));
        for (TripletFilters.Verdict v : TripletFilters.Verdict.rejections()) counters.add(v.label);
        counters.add(GENERATED_TOKENS);
        ResumableOutput output = ResumableOutput.startOrResume(JOB, "contexts_done", outputs(o),
                counters, fingerprint(o, contexts, prompts.template()), log);
        TripletFilters filters = new TripletFilters(o.minSupport());
        for (String line : output.writtenLines(0)) filters.alreadyKept(JSON.readTree(line).path("question").asText());

        long start = System.nanoTime();
        long tokensThisRun = 0;
        try (TeacherResponses responses = teacher.open()) {
            while (output.done() < contexts.size()) {
                int from = output.done(), to = Math.min(contexts.size(), from + o.chunkContexts());
                List<String> texts = new ArrayList<>();
                for (int i = from; i < to; i++) for (int j = 0; j < o.samples(); j++) texts.add(prompts.texts().get(i));
                List<Generator.Result> results = responses.generate(texts, (long) from * o.samples());
                for (int k = 0; k < results.size(); k++) {
                    Generator.Result r = results.get(k);
                    Contexts.Context c = contexts.get(from + k / o.samples());
                    tokensThisRun += r.generated().length;
                    output.add(GENERATED_TOKENS, r.generated().length);
                    TripletFilters.Judged j = filters.judge(c.text(), r.text(), r.finish() == Generator.Finish.LENGTH);
                    output.add(j.verdict().label, 1);
                    if (j.verdict() == TripletFilters.Verdict.KEPT) output.line(0, kept(c, j.written(), o.trainOn()).toString());
                    else output.line(1, rejected(c, k % o.samples(), r.text(), j).toString());
                }
                output.commit(to);
                log.printf(Locale.ROOT, "synthesize: %d/%d contexts, %d triplets kept%n", to, contexts.size(), output.count("kept"));
            }
        }
        output.finish();
        Map<String, Long> rejected = new LinkedHashMap<>();
        for (TripletFilters.Verdict v : TripletFilters.Verdict.rejections()) rejected.put(v.label, output.count(v.label));
        return new Summary(contexts.size(), output.count("kept"), rejected, tokensThisRun, (System.nanoTime() - start) / 1e9);
    }

    /** The template text: --template FILE (which must hold {context}) or the default for the kind of model. */
    static String template(Path file, boolean chat) throws IOException {
        if (file == null) return chat ? QaFormat.DEFAULT_CHAT_TEMPLATE : QaFormat.DEFAULT_TEMPLATE;
        String text = JsonLines.text(file);
        if (!text.contains(QaFormat.CONTEXT)) {
            throw new IllegalArgumentException("--template " + file + ": no " + QaFormat.CONTEXT + " in it, where the context goes");
        }
        return text.strip();
    }

    private static Map<String, String> fingerprint(Options o, List<Contexts.Context> contexts, String template) {
        StringBuilder all = new StringBuilder();
        for (Contexts.Context c : contexts) all.append(c.id()).append('\0').append(c.text()).append('\0');
        Map<String, String> m = new LinkedHashMap<>();
        m.put("teacher", o.teacher().toAbsolutePath().normalize().toString());
        m.put("adapter", o.adapter() == null ? "" : o.adapter().toAbsolutePath().normalize().toString());
        m.put("contexts", CacheHashes.bytes(all.toString().getBytes(StandardCharsets.UTF_8)));
        m.put("template", CacheHashes.bytes(template.getBytes(StandardCharsets.UTF_8)));
        m.put("samples", Integer.toString(o.samples()));
        m.put("sampling", o.sampling().toString());
        m.put("min_support", Double.toString(o.minSupport()));
        m.put("train_on", o.trainOn().flag);
        return m;
    }

    /**
     * Copies a synthesized file with each triplet's prompt and completion written for {@code trainOn} instead: the
     * same triplets, another way to train on them, without asking the teacher again.
     */
    public static void retrain(Path synthesized, Path out, TrainOn trainOn) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (JsonLines.Line line : JsonLines.parse(synthesized, JsonLines.text(synthesized))) {
            Contexts.Context c = new Contexts.Context(line.string("context_id"), "", line.string("context"));
            lines.append(kept(c, new QaFormat.Written(line.string("question"), line.string("answer")), trainOn)).append('\n');
        }
        java.nio.file.Files.writeString(out, lines, StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW);
    }

    static ObjectNode kept(Contexts.Context c, QaFormat.Written w, TrainOn trainOn) {
        String prompt = trainOn == TrainOn.ANSWER ? QaFormat.answerPrompt(c.text(), w.question()) : QaFormat.questionPrompt(c.text());
        String completion = QaFormat.answered(c.text(), w.question(), w.answer()).substring(prompt.length());
        return JSON.createObjectNode().put("context_id", c.id()).put("context", c.text()).put("question", w.question())
                .put("answer", w.answer()).put("prompt", prompt).put("completion", completion);
    }

    private static ObjectNode rejected(Contexts.Context c, int sample, String generated, TripletFilters.Judged j) {
        ObjectNode n = JSON.createObjectNode().put("context_id", c.id()).put("sample", sample).put("generated", generated)
                .put("rejected", j.verdict().label);
        if (!Double.isNaN(j.support())) n.put("support", j.support());
        return n;
    }
}
