package dev.retort.distill.qa;

import dev.retort.distill.data.JsonLines;
import dev.retort.distill.train.ResourceUse;
import dev.retort.models.Llm;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code retort eval-qa}: exact match, token F1 ({@link QaMetrics}) and retrieval accuracy of a QA pipeline on
 * gold questions. Retrieval accuracy is the fraction of questions answered from the right place: the gold
 * context when the gold line names one ({@code context_id}), else any context of the gold {@code document}.
 *
 * <p>Three pipelines: {@link #bm25Top1} (the model answers from BM25's top hit, greedy), {@link #sgp}
 * ({@link Sgp}), and {@link #goldContext} (the model answers from the passage the answer is in: reading alone,
 * without retrieval). Each is timed with {@link ResourceUse} after a warm-up of a few questions, so a student's
 * CPU-seconds per answered question stand beside the teacher's.
 */
public final class QaEvaluation {
    /** A gold question, its answer, and where the answer is. */
    public record Gold(String question, String answer, String document, String contextId) {
        boolean answeredFrom(Contexts.Context c) {
            return c != null && (contextId != null ? contextId.equals(c.id()) : document.equals(c.document()));
        }
    }

    /** One pipeline's scores over the gold set. */
    public record Scores(String pipeline, int questions, double exactMatch, double f1, double retrieval, double cpuSecondsPerQuestion) {
        public String row() {
            return String.format(Locale.ROOT, "%-24s %6d %8.3f %8.3f %10.3f %12.4f", pipeline, questions, exactMatch, f1, retrieval, cpuSecondsPerQuestion);
        }

        public static String header() {
            return String.format(Locale.ROOT, "%-24s %6s %8s %8s %10s %12s", "pipeline", "n", "EM", "F1", "retrieval", "CPU-s/q");
        }
    }

    /** One answered question, for the per-question output. */
    public record Answered(Gold gold, String contextId, String answer, double exactMatch, double f1, boolean retrieved) {}

    /** A pipeline's per-question answers and their scores. */
    public record Run(Scores scores, List<Answered> answers) {}

    private static final int WARM_UP_QUESTIONS = 5;

    private QaEvaluation() {}

    /** Gold lines {@code {"question", "answer", "document" and/or "context_id"}}. */
    public static List<Gold> read(Path data) throws IOException {
        List<Gold> gold = new ArrayList<>();
        for (JsonLines.Line line : JsonLines.parse(data, JsonLines.text(data))) {
            String contextId = line.object().has("context_id") ? line.string("context_id") : null;
            String document = line.object().has("document") ? line.string("document") : null;
            if (contextId == null && document == null) {
                throw new IllegalArgumentException(line.where() + "a gold question needs \"document\" or \"context_id\" (where its answer is)");
            }
            gold.add(new Gold(line.string("question"), line.string("answer"), document, contextId));
        }
        if (gold.isEmpty()) throw new IllegalArgumentException("--data " + data + ": no questions (the file is empty)");
        return gold;
    }

    /** {@code model} answers each question greedily from BM25's best context. */
    public static Run bm25Top1(String name, Llm model, ContextIndex index, List<Gold> gold, int maxTokens) {
        warmUp(model, index, gold, maxTokens);
        ResourceUse.Meter meter = ResourceUse.start(1);
        List<Answered> out = new ArrayList<>();
        for (Gold g : gold) out.add(bm25Top1(model, index, g, maxTokens));
        return new Run(scores(name, out, meter.stop()), out);
    }

    private static Answered bm25Top1(Llm model, ContextIndex index, Gold g, int maxTokens) {
        List<ContextIndex.Hit> hits = index.search(g.question(), 1);
        Contexts.Context top = hits.isEmpty() ? null : hits.getFirst().context();
        return answered(g, top, top == null ? "" : answer(model, top, g, maxTokens));
    }

    /**
     * {@code model} answers each question greedily from its gold passage: the first of {@code contexts} the gold
     * line points to ({@code context_id}, else its {@code document}); a question with none is answered from no
     * passage and scores 0. Retrieval accuracy is then the share of questions whose passage was found.
     */
    public static Run goldContext(String name, Llm model, List<Contexts.Context> contexts, List<Gold> gold, int maxTokens) {
        for (int i = 0; i < Math.min(WARM_UP_QUESTIONS, gold.size()); i++) goldContext(model, contexts, gold.get(i), maxTokens);
        ResourceUse.Meter meter = ResourceUse.start(1);
        List<Answered> out = new ArrayList<>();
        for (Gold g : gold) out.add(goldContext(model, contexts, g, maxTokens));
        return new Run(scores(name, out, meter.stop()), out);
    }

    private static Answered goldContext(Llm model, List<Contexts.Context> contexts, Gold g, int maxTokens) {
        Contexts.Context passage = contexts.stream().filter(g::answeredFrom).findFirst().orElse(null);
        return answered(g, passage, passage == null ? "" : answer(model, passage, g, maxTokens));
    }

    private static String answer(Llm model, Contexts.Context passage, Gold g, int maxTokens) {
        return model.generate(QaFormat.answerPrompt(passage.text(), g.question()), Sgp.greedy(maxTokens), piece -> { }).text().strip();
    }

    /** {@code student} answers each question with {@link Sgp}. */
    public static Run sgp(String name, Llm student, ContextIndex index, List<Gold> gold, Sgp.Options options) {
        return sgpWeights(name, student, index, gold, options, List.of(options.bm25Weight())).getFirst();
    }

    /**
     * {@link #sgp} at each of {@code weights} (w, --sgp-weight) from one judgement of the candidates: runs named
     * {@code name + " w=" + w}, each charged the judgement's CPU time.
     */
    public static List<Run> sgpWeights(String name, Llm student, ContextIndex index, List<Gold> gold, Sgp.Options options, List<Double> weights) {
        warmUp(student, index, gold, options.maxTokens());
        ResourceUse.Meter meter = ResourceUse.start(1);
        List<List<Sgp.Candidate>> judged = new ArrayList<>();
        for (Gold g : gold) judged.add(Sgp.judge(student, index, g.question(), options));
        ResourceUse use = meter.stop();
        List<Run> runs = new ArrayList<>();
        for (double w : weights) {
            List<Answered> out = new ArrayList<>();
            for (int i = 0; i < gold.size(); i++) {
                Sgp.Answer a = Sgp.choose(gold.get(i).question(), judged.get(i), w, options.answerWeight());
                out.add(answered(gold.get(i), a.chosen() == null ? null : a.chosen().hit().context(), a.chosen() == null ? "" : a.chosen().answer()));
            }
            runs.add(new Run(scores(weights.size() == 1 ? name : name + " w=" + w, out, use), out));
        }
        return runs;
    }

    /** A few questions answered untimed first, so the JIT compiler's start is not charged to whichever pipeline runs first. */
    private static void warmUp(Llm model, ContextIndex index, List<Gold> gold, int maxTokens) {
        for (int i = 0; i < Math.min(WARM_UP_QUESTIONS, gold.size()); i++) bm25Top1(model, index, gold.get(i), maxTokens);
    }

    private static Answered answered(Gold g, Contexts.Context from, String answer) {
        return new Answered(g, from == null ? null : from.id(), answer, QaMetrics.exactMatch(answer, g.answer()),
                QaMetrics.f1(answer, g.answer()), g.answeredFrom(from));
    }

    private static Scores scores(String name, List<Answered> answers, ResourceUse use) {
        double em = 0, f1 = 0, retrieved = 0;
        for (Answered a : answers) {
            em += a.exactMatch();
            f1 += a.f1();
            retrieved += a.retrieved() ? 1 : 0;
        }
        int n = answers.size();
        return new Scores(name, n, em / n, f1 / n, retrieved / n, use.cpuSeconds() / n);
    }
}
