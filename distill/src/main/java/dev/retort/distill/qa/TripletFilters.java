package dev.retort.distill.qa;

import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which teacher-written (context, question, answer) triplets {@code synthesize} keeps. The filters run in this
 * order and the first that fails names the rejection:
 * <ol>
 *   <li>{@code truncated}: the teacher hit --max-tokens before it ended its text (the answer may be cut off);
 *   <li>{@code malformed}: no question followed by an {@code answer:} line ({@link QaFormat#parse}), or a question
 *       that does not end with a question mark;
 *   <li>{@code empty_answer}: nothing left of the answer after normalisation ({@link QaMetrics#words});
 *   <li>{@code unsupported}: the answer's support in its context is below {@code minSupport} — support is the
 *       fraction of the answer's normalised words that occur in the context (1 for an extractive answer, 0 for
 *       one made up entirely); 0 turns the filter off;
 *   <li>{@code duplicate_question}: the same question (normalised) was kept before, for any context — a question
 *       that two contexts answer would teach the student two answers.
 * </ol>
 */
public final class TripletFilters {
    /** The filters' verdict on one triplet, with the name written to the rejected file and the summary. */
    public enum Verdict {
        KEPT("kept"), TRUNCATED("truncated"), MALFORMED("malformed"), EMPTY_ANSWER("empty_answer"),
        UNSUPPORTED("unsupported"), DUPLICATE_QUESTION("duplicate_question");

        public final String label;

        Verdict(String label) {
            this.label = label;
        }

        /** The rejections, in the order the filters run. */
        public static List<Verdict> rejections() {
            return List.of(TRUNCATED, MALFORMED, EMPTY_ANSWER, UNSUPPORTED, DUPLICATE_QUESTION);
        }
    }

    /** A verdict, the parsed triplet (null when malformed or truncated) and its support (NaN when not computed). */
    public record Judged(Verdict verdict, QaFormat.Written written, double support) {}

    private final double minSupport;
    private final Set<String> keptQuestions = new HashSet<>();

    public TripletFilters(double minSupport) {
        if (!(minSupport >= 0 && minSupport <= 1)) throw new IllegalArgumentException("--min-support must be in [0, 1], got " + minSupport);
        this.minSupport = minSupport;
    }

    /** Counts {@code question} as kept already (a resumed run's earlier output). */
    public void alreadyKept(String question) {
        keptQuestions.add(QaFormat.questionKey(question));
    }

    /** Judges what the teacher wrote for {@code context}; a kept question is remembered for the duplicate filter. */
    public Judged judge(String context, String generated, boolean truncated) {
        if (truncated) return new Judged(Verdict.TRUNCATED, null, Double.NaN);
        Optional<QaFormat.Written> parsed = QaFormat.parse(generated);
        if (parsed.isEmpty() || !parsed.get().question().endsWith("?")) return new Judged(Verdict.MALFORMED, parsed.orElse(null), Double.NaN);
        QaFormat.Written w = parsed.get();
        if (QaMetrics.words(w.answer()).isEmpty()) return new Judged(Verdict.EMPTY_ANSWER, w, Double.NaN);
        double support = support(w.answer(), context);
        if (support < minSupport) return new Judged(Verdict.UNSUPPORTED, w, support);
        if (!keptQuestions.add(QaFormat.questionKey(w.question()))) return new Judged(Verdict.DUPLICATE_QUESTION, w, support);
        return new Judged(Verdict.KEPT, w, support);
    }

    /** The fraction of the answer's normalised words found among the context's. */
    public static double support(String answer, String context) {
        List<String> a = QaMetrics.words(answer);
        if (a.isEmpty()) return 0;
        Set<String> c = new HashSet<>(QaMetrics.words(context));
        long found = a.stream().filter(c::contains).count();
        return (double) found / a.size();
    }
}
