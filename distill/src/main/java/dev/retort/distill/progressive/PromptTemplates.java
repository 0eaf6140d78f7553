package dev.retort.distill.progressive;

import dev.retort.autograd.Parameter;
import dev.retort.models.InputFiles;
import dev.retort.models.Sampling;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Adaptive prompting: the pool of prompt templates the unlabelled inputs are put into ({@code --prompt-templates}:
 * one template per line, each with one {@code {input}}, {@code \n} for a line break), and the multi-armed bandit
 * that chooses one per input. A template's reward is how much there is still to learn under it from a teacher
 * that knows the answer: over a row's counted positions, the mean of
 * <pre>
 *   r = exp(−H(p)) · KL(p ‖ q)          teacher confidence (1 when certain) × student disagreement
 * </pre>
 * Each arm keeps a running score s_k (the mean of its first {@link #WINDOW} rewards, then an exponential average
 * with rate 1/WINDOW) and a count n_k; an arm not yet tried scores as the best tried one (optimism). Templates are
 * drawn EXP3-style from
 * <pre>
 *   P(k) = (1 − γ)·softmax_k(η · s_k / max_j s_j) + γ / K       (η: --template-eta, γ: --template-explore)
 * </pre>
 * with the uniform number of (seed, micro-batch index·B + row), so the choice is a function of the seed, the step
 * and the state. The state (s, n) lives in one F32 tensor that every read and write goes through, checkpointed
 * with the run ({@link #state}), so a resumed run chooses exactly as the uninterrupted one.
 */
public final class PromptTemplates {
    static final String SLOT = "{input}";
    /** Rewards averaged before the score becomes an exponential average of rate 1/WINDOW. */
    static final int WINDOW = 10;
    private static final long SALT = 0x7465_6d70_6c61_7465L;

    private final List<String> templates;
    private final double eta, explore;
    private final long seed;
    private final Parameter state;   // [2 × K]: scores s_k, then counts n_k

    PromptTemplates(List<String> templates, double eta, double explore, long seed, Arena arena) {
        if (templates.isEmpty()) throw new IllegalArgumentException("no prompt templates");
        this.templates = List.copyOf(templates);
        this.eta = eta;
        this.explore = explore;
        this.seed = seed;
        this.state = new Parameter("progressive.template_bandit", Tensor.zeros(arena, dev.retort.tensor.DType.F32, 2, templates.size()), false);
    }

    /** The pool of one template, the input as it is. */
    static PromptTemplates identity(Arena arena) {
        return new PromptTemplates(List.of(SLOT), 0, 1, 0, arena);
    }

    /** The templates of {@code file}, each checked for its one slot; errors name the file and line. */
    public static List<String> read(Path file) {
        String text = InputFiles.readUtf8(file, InputFiles.DATA_BYTES, (f, problem) -> new IllegalArgumentException("--prompt-templates " + f + ": " + problem));
        List<String> out = new ArrayList<>();
        List<String> lines = text.lines().toList();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            String template = line.replace("\\n", "\n");
            int at = template.indexOf(SLOT);
            if (at < 0 || template.indexOf(SLOT, at + 1) >= 0) {
                throw new IllegalArgumentException("--prompt-templates " + file + ":" + (i + 1) + ": a template needs exactly one " + SLOT
                        + " where the input goes, got '" + line.strip() + "'");
            }
            out.add(template);
        }
        if (out.isEmpty()) throw new IllegalArgumentException("--prompt-templates " + file + ": no templates (one per line)");
        return out;
    }

    int size() {
        return templates.size();
    }

    /** Template {@code k} with {@code input} in its slot. */
    String render(int k, String input) {
        return templates.get(k).replace(SLOT, input);
    }

    /** What a checkpoint keeps: the scores and counts. */
    Parameter state() {
        return state;
    }

    /** P(k) for every template, from the current state. */
    double[] weights() {
        int n = size();
        double[] p = new double[n];
        if (n == 1) {
            p[0] = 1;
            return p;
        }
        double best = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < n; k++) if (count(k) > 0) best = Math.max(best, score(k));
        if (!(best > 0)) {   // nothing tried yet, or nothing left to learn anywhere: uniform
            java.util.Arrays.fill(p, 1.0 / n);
            return p;
        }
        double scale = eta / best;
        double max = Double.NEGATIVE_INFINITY;
        double[] logits = new double[n];
        for (int k = 0; k < n; k++) {
            logits[k] = scale * (count(k) > 0 ? score(k) : best);
            max = Math.max(max, logits[k]);
        }
        double sum = 0;
        for (int k = 0; k < n; k++) sum += p[k] = Math.exp(logits[k] - max);
        for (int k = 0; k < n; k++) p[k] = (1 - explore) * p[k] / sum + explore / n;
        return p;
    }

    /** The template of row {@code row} of micro-batch {@code index} (of {@code batch} rows), drawn from {@link #weights}. */
    int choose(long index, int row, int batch) {
        if (size() == 1) return 0;
        double u = new SplittableRandom(Sampling.sequenceSeed(seed ^ SALT, index * batch + row)).nextDouble();
        double[] p = weights();
        double c = 0;
        for (int k = 0; k < p.length; k++) {
            c += p[k];
            if (u < c) return k;
        }
        return p.length - 1;
    }

    /**
     * Scores the rows of a batch: row i (template {@code chosen[i]}) over its {@code seq} positions, each with the
     * student's KL from the teacher and the teacher's entropy (0 where a position does not count).
     */
    void reward(int[] chosen, int seq, double[] kl, double[] teacherEntropy, int[] counted) {
        for (int i = 0; i < chosen.length; i++) {
            double sum = 0;
            int n = 0;
            for (int t = i * seq; t < (i + 1) * seq; t++) {
                if (counted[t] == dev.retort.autograd.ops.CrossEntropy.IGNORE_INDEX) continue;
                sum += Math.exp(-teacherEntropy[t]) * kl[t];
                n++;
            }
            if (n > 0) update(chosen[i], sum / n);
        }
    }

    private void update(int k, double reward) {
        double n = count(k) + 1;
        double s = score(k);
        state.value().setFlat(k, (float) (s + (reward - s) / Math.min(n, WINDOW)));
        state.value().setFlat(size() + k, (float) n);
    }

    private double score(int k) {
        return state.value().getFlat(k);
    }

    private double count(int k) {
        return state.value().getFlat(size() + k);
    }
}
