package dev.retort.distill.qa;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.llama.Generator;
import dev.retort.models.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * The Selective Generative Paradigm of Ace-Attorney (Italiani, Moro, Ragazzi 2025): the retriever proposes
 * candidate contexts and the student's own judgement of each decides which one it answers from. The paper's
 * scoring is not public; this is Retort's reading, every weight an option.
 *
 * <p>For a question q and each of the {@code candidates} best BM25 contexts c (score b_c):
 * <ul>
 *   <li>the student's question score Q_c: its mean log-probability per token of q after
 *       {@link QaFormat#questionPrompt}(c) — how plausible it finds q as a question about c;
 *   <li>its answer a_c, greedy after {@link QaFormat#answerPrompt}(c, q) (up to --max-tokens, ending at
 *       end-of-sequence), and the answer score A_c: the mean log-probability per token of a_c (with its
 *       end-of-sequence) — how sure it is of an answer from c;
 *   <li>the student score S_c = Q_c + {@code answerWeight}·A_c, and the choice
 *       argmax_c w·b_c / max b + (1 − w)·exp(S_c − max S), with w = {@code bm25Weight} (--sgp-weight): both terms
 *       are in (0, 1] and 1 for the candidate each side likes best; the student's term is the ratio of
 *       per-token likelihoods. w = 1 is BM25's top hit, w = 0 the student's favourite. Ties go to the better
 *       BM25 rank.
 * </ul>
 */
public final class Sgp {
    /**
     * @param candidates   contexts BM25 proposes (--candidates)
     * @param bm25Weight   w, the weight of the normalised BM25 score (--sgp-weight)
     * @param answerWeight the weight of the answer score in the student score (--answer-weight)
     * @param maxTokens    the longest answer generated (--max-tokens)
     */
    public record Options(int candidates, double bm25Weight, double answerWeight, int maxTokens) {
        public static final Options DEFAULTS = new Options(5, 0.5, 1.0, 16);

        public Options {
            if (candidates < 1) throw new IllegalArgumentException("--candidates must be at least 1, got " + candidates);
            if (!(bm25Weight >= 0 && bm25Weight <= 1)) throw new IllegalArgumentException("--sgp-weight must be in [0, 1], got " + bm25Weight);
            if (!(answerWeight >= 0) || Double.isInfinite(answerWeight)) throw new IllegalArgumentException("--answer-weight must be 0 or more, got " + answerWeight);
            if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be at least 1, got " + maxTokens);
        }
    }

    /** One candidate as the student judged it. */
    public record Candidate(ContextIndex.Hit hit, String answer, double questionScore, double answerScore, double studentScore, double combined) {}

    /** The chosen candidate and all of them, in BM25 order. */
    public record Answer(String question, Candidate chosen, List<Candidate> candidates) {}

    private Sgp() {}

    /** Answers {@code question} from the candidate the combined score prefers. */
    public static Answer answer(Llm student, ContextIndex index, String question, Options o) {
        return choose(question, judge(student, index, question, o), o.bm25Weight(), o.answerWeight());
    }

    /**
     * The student's judgement of BM25's best {@code o.candidates()} contexts for {@code question}: each one's
     * greedy answer, question score Q and answer score A (the combination is left to {@link #choose}).
     */
    public static List<Candidate> judge(Llm student, ContextIndex index, String question, Options o) {
        List<ContextIndex.Hit> hits = index.search(question, o.candidates());
        if (hits.isEmpty()) return List.of();
        List<String> prompts = new ArrayList<>();
        for (ContextIndex.Hit h : hits) prompts.add(QaFormat.answerPrompt(h.context().text(), question));
        List<Generator.Result> answers = student.generate(prompts, greedy(o.maxTokens()), hits.size(), (i, piece) -> { });
        Tokenizer tok = student.tokenizer();
        List<Candidate> out = new ArrayList<>();
        for (int i = 0; i < hits.size(); i++) {
            String context = hits.get(i).context().text();
            double q = meanLogProb(student, tok.encodePrompt(QaFormat.questionPrompt(context)), tok.encode(" " + question.strip(), false, false));
            double a = meanLogProb(student, tok.encodePrompt(prompts.get(i)), withEos(answers.get(i)));
            out.add(new Candidate(hits.get(i), answers.get(i).text().strip(), q, a, Double.NaN, Double.NaN));
        }
        return out;
    }

    /**
     * The choice among judged candidates (in BM25 order) for weights w = {@code bm25Weight} and
     * {@code answerWeight}: each candidate comes back with its student score S and combined score filled in.
     * A pure function of the scores, so one judgement serves any number of weights.
     */
    public static Answer choose(String question, List<Candidate> judged, double bm25Weight, double answerWeight) {
        if (judged.isEmpty()) return new Answer(question, null, List.of());
        double maxBm25 = judged.getFirst().hit().score(), maxStudent = Double.NEGATIVE_INFINITY;
        for (Candidate c : judged) maxStudent = Math.max(maxStudent, c.questionScore() + answerWeight * c.answerScore());
        List<Candidate> candidates = new ArrayList<>();
        Candidate chosen = null;
        for (Candidate c : judged) {
            double student = c.questionScore() + answerWeight * c.answerScore();
            double bm25 = maxBm25 > 0 ? c.hit().score() / maxBm25 : 1;
            double combined = bm25Weight * bm25 + (1 - bm25Weight) * Math.exp(student - maxStudent);
            Candidate scored = new Candidate(c.hit(), c.answer(), c.questionScore(), c.answerScore(), student, combined);
            candidates.add(scored);
            if (chosen == null || combined > chosen.combined()) chosen = scored;
        }
        return new Answer(question, chosen, candidates);
    }

    /** Greedy decoding of an answer of at most {@code maxTokens} tokens. */
    public static Sampling greedy(int maxTokens) {
        return Sampling.greedy(maxTokens);
    }

    /** The generated tokens and the end-of-sequence token the model wrote after them, if it did. */
    private static int[] withEos(Generator.Result r) {
        if (!r.stoppedAtEos()) return r.generated();
        int[] out = java.util.Arrays.copyOf(r.generated(), r.generated().length + 1);
        out[r.generated().length] = r.eosToken();
        return out;
    }

    /**
     * The mean natural-log probability per token the model gives {@code continuation} after {@code prefix}
     * (0 for an empty continuation). The two are tokenized apart, as training data's prompt and completion are.
     */
    public static double meanLogProb(Llm model, int[] prefix, int[] continuation) {
        if (continuation.length == 0) return 0;
        int[] tokens = new int[prefix.length + continuation.length];
        System.arraycopy(prefix, 0, tokens, 0, prefix.length);
        System.arraycopy(continuation, 0, tokens, prefix.length, continuation.length);
        float[][] logits = model.continuationLogits(tokens, prefix.length);   // row k predicts continuation[k]; a pruned prefix with token pruning
        double sum = 0;
        for (int k = 0; k < continuation.length; k++) sum += logSoftmax(logits[k], continuation[k]);
        return sum / continuation.length;
    }

    /** log softmax(row)[index], in double. */
    static double logSoftmax(float[] row, int index) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : row) max = Math.max(max, x);
        double sum = 0;
        for (float x : row) sum += Math.exp(x - max);
        return row[index] - max - Math.log(sum);
    }
}
