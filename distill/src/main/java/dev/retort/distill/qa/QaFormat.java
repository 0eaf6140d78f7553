package dev.retort.distill.qa;

import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The text forms of question answering over a context, shared by synthesis, training, answering and evaluation,
 * so that a student is asked exactly as it was trained.
 *
 * <p>An answered question is {@code passage: CONTEXT\nquestion: QUESTION\nanswer: ANSWER}. Retort's reading of
 * the Ace-Attorney pipeline (whose prompts are not public):
 * <ul>
 *   <li>synthesis asks the teacher to continue {@code passage: CONTEXT\nquestion:} (the default template,
 *       {@link #DEFAULT_TEMPLATE}), so it writes a question and, on the next line, its answer; for a model with a
 *       chat template the default is an instruction ({@link #DEFAULT_CHAT_TEMPLATE}) sent as the user's message;
 *   <li>the student is trained on {@link #answerPrompt} → {@code " " + answer} (loss on the answer only) and is
 *       asked the same way at inference, and SGP scores the question under {@link #questionPrompt}.
 * </ul>
 */
public final class QaFormat {
    /** Continued by a base model: the question, then a line {@code answer: …}. */
    public static final String DEFAULT_TEMPLATE = "passage: {context}\nquestion:";
    /** The user's message for a model with a chat template. */
    public static final String DEFAULT_CHAT_TEMPLATE = "Read the passage and write one question that it answers, then its answer, "
            + "in exactly this form:\nquestion: <the question>\nanswer: <the answer, a few words from the passage>\n\npassage: {context}";
    /** Where a template puts the context. */
    public static final String CONTEXT = "{context}";

    private static final Pattern ANSWER_LINE = Pattern.compile("(?im)^[ \\t]*answer[ \\t]*:");
    private static final Pattern QUESTION_LABEL = Pattern.compile("(?i)^\\s*question\\s*:");

    private QaFormat() {}

    /** A question and its answer parsed from what a teacher wrote. */
    public record Written(String question, String answer) {}

    /** What the student continues with its answer. */
    public static String answerPrompt(String context, String question) {
        return questionPrompt(context) + " " + question.strip() + "\nanswer:";
    }

    /** What precedes a question: the student's likelihood of the question is scored after it. */
    public static String questionPrompt(String context) {
        return passage(context) + "\nquestion:";
    }

    /** The context as every prompt here opens: {@code passage: CONTEXT}. */
    public static String passage(String context) {
        return "passage: " + context.strip();
    }

    /** A whole answered question, as a teacher's training paragraph or a student's training text. */
    public static String answered(String context, String question, String answer) {
        return answerPrompt(context, question) + " " + answer.strip();
    }

    /** {@code template} with the context in place of {@code {context}}. */
    public static String fill(String template, String context) {
        return template.replace(CONTEXT, context.strip());
    }

    /**
     * The question and answer in a teacher's text: everything before the first line that starts with
     * {@code answer:} is the question (a leading {@code question:} label removed), the rest of that line is the
     * answer. Empty when there is no such line or no question before it; the answer may be empty.
     */
    public static Optional<Written> parse(String text) {
        Matcher m = ANSWER_LINE.matcher(text);
        if (!m.find()) return Optional.empty();
        String question = QUESTION_LABEL.matcher(text.substring(0, m.start())).replaceFirst("").strip();
        if (question.isEmpty() || question.contains("\n")) return Optional.empty();
        String rest = text.substring(m.end());
        int end = rest.indexOf('\n');
        String answer = (end < 0 ? rest : rest.substring(0, end)).strip();
        return Optional.of(new Written(question, answer));
    }

    /** A question as the duplicate filter compares it: normalised words ({@link QaMetrics#words}). */
    public static String questionKey(String question) {
        return String.join(" ", QaMetrics.words(question)).toLowerCase(Locale.ROOT);
    }
}
