package dev.retort.distill.options;

import dev.retort.distill.loss.LayerMap;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Progressive distillation with adapters and no labels ({@code --method progressive}; after Saxena, Janzen and
 * Maass, NAACL 2025 SRW, whose exact phases and weights are not public: this is Retort's reading, every choice
 * an option). The run is a sequence of phases, each with its own steps, learning rate, KD temperature and
 * trainable adapters:
 * <ul>
 *   <li>{@code representations}: the student's layers learn the teacher's mapped layers' next-token
 *       distributions through the logit lens (cross-entropy, {@code --lens-weight}), plus the hidden-state loss
 *       of {@code --feature-layers} when given;
 *   <li>{@code outputs}: token-level KD, the cross-entropy to the teacher's output distribution over the
 *       (templated) unlabelled domain text;
 *   <li>{@code generation}: sequence-level KD, cross-entropy on the responses the teacher samples to the
 *       (templated) domain inputs during training ({@code --gen-temperature}, {@code --max-new-tokens}).
 * </ul>
 * Per-phase lists are comma-separated, one entry per phase (or one entry for all), also as lists in a
 * {@code --config} file ({@code phase_steps: [40, 40, 20]}).
 *
 * @param phases      the phases in order (default representations, outputs, generation)
 * @param steps       optimizer steps per phase; empty: the run's --max-steps (or --epochs) shared out evenly
 * @param lrs         peak learning rate per phase; empty: --lr for each
 * @param temperatures KD temperature per phase; empty: --temperature for each
 * @param trainable   which adapters each phase trains: {@code lower} (layers below the middle), {@code upper},
 *                    {@code all}; empty: lower for representations, all for the others
 * @param patience    a phase ends early after this many held-out evaluations (every --eval-every steps) without
 *                    a new best of its own loss; 0 = never
 * @param lensLayers  student:teacher layer pairs of the logit lens; null = spread evenly ({@link LayerMap#uniform})
 * @param lensWeight  weight of the logit-lens cross-entropy in the representations phase (0 = hidden states only)
 * @param promptTemplates a file of prompt templates for the unlabelled inputs (adaptive prompting), or null
 * @param templateEta     how sharply the template bandit prefers the best-scoring templates (η of its softmax)
 * @param templateExplore the share of template draws made uniformly (γ), in [0, 1]
 * @param unfreeze    progressive unfreezing: each phase switches its adapters on from the bottom layer upwards,
 *                    one more layer per stage of steps/layers steps (layers an earlier phase trained stay on)
 * @param merge       no progressive schedule (the ablation of the phases' order): the phases' losses and batches
 *                    take turns, micro-batch by micro-batch, in one phase of --max-steps steps at --lr with every
 *                    adapter trainable; each loss keeps its phase's temperature
 */
public record ProgressiveOptions(List<String> phases, List<Long> steps, List<Double> lrs, List<Double> temperatures,
                                 List<String> trainable, int patience, LayerMap lensLayers, double lensWeight,
                                 Path promptTemplates, double templateEta, double templateExplore, boolean unfreeze,
                                 boolean merge) {
    public static final List<String> KINDS = List.of("representations", "outputs", "generation");
    public static final List<String> TRAINABLE = List.of("lower", "upper", "all");
    public static final ProgressiveOptions DEFAULTS = new ProgressiveOptions(KINDS, List.of(), List.of(), List.of(), List.of(),
            0, null, 1.0, null, 3.0, 0.1, false, false);

    /** One phase's settings, resolved against the run's. */
    public record PhaseSettings(String kind, long steps, double lr, double temperature, String trainable) {}

    public ProgressiveOptions {
        phases = List.copyOf(phases);
        steps = List.copyOf(steps);
        lrs = List.copyOf(lrs);
        temperatures = List.copyOf(temperatures);
        trainable = List.copyOf(trainable);
        if (phases.isEmpty()) throw new IllegalArgumentException("--phases needs at least one of " + String.join(", ", KINDS));
        for (String p : phases) {
            if (!KINDS.contains(p)) throw new IllegalArgumentException("--phases: '" + p + "' is not one of " + String.join(", ", KINDS));
        }
        checkCount("--phase-steps", steps.size(), phases.size());
        checkCount("--phase-lr", lrs.size(), phases.size());
        checkCount("--phase-temperature", temperatures.size(), phases.size());
        checkCount("--phase-trainable", trainable.size(), phases.size());
        for (long s : steps) if (s < 1) throw new IllegalArgumentException("--phase-steps must each be at least 1, got " + s);
        for (double lr : lrs) if (!(lr > 0) || Double.isInfinite(lr)) throw new IllegalArgumentException("--phase-lr must each be a positive number, got " + lr);
        for (double t : temperatures) if (!(t > 0) || Double.isInfinite(t)) throw new IllegalArgumentException("--phase-temperature must each be a positive number, got " + t);
        for (String t : trainable) {
            if (!TRAINABLE.contains(t)) throw new IllegalArgumentException("--phase-trainable: '" + t + "' is not one of " + String.join(", ", TRAINABLE));
        }
        if (patience < 0) throw new IllegalArgumentException("--phase-patience must be >= 0 (0 = off), got " + patience);
        if (!(lensWeight >= 0) || Double.isInfinite(lensWeight)) throw new IllegalArgumentException("--lens-weight must be a number >= 0, got " + lensWeight);
        if (!(templateEta >= 0) || Double.isInfinite(templateEta)) throw new IllegalArgumentException("--template-eta must be a number >= 0, got " + templateEta);
        if (!(templateExplore >= 0 && templateExplore <= 1)) throw new IllegalArgumentException("--template-explore must be in [0, 1], got " + templateExplore);
        if (merge) {
            if (phases.size() < 2) throw new IllegalArgumentException("--merge-phases needs at least two --phases to merge, got " + phases);
            if (!steps.isEmpty() || !lrs.isEmpty() || !trainable.isEmpty() || patience > 0 || unfreeze) {
                throw new IllegalArgumentException("--merge-phases runs one phase of --max-steps at --lr with every adapter trainable: "
                        + "--phase-steps, --phase-lr, --phase-trainable, --phase-patience and --progressive-unfreeze do not apply");
            }
        }
    }

    /** From the command line's text (null or blank: the default). */
    public static ProgressiveOptions parse(String phases, String steps, String lrs, String temperatures, String trainable,
                                           int patience, String lensLayers, double lensWeight, Path promptTemplates,
                                           double templateEta, double templateExplore, boolean unfreeze, boolean merge) {
        List<String> kinds = words(phases).isEmpty() ? KINDS : words(phases);
        List<Long> s = new ArrayList<>();
        for (String w : words(steps)) s.add((long) number("--phase-steps", w));
        List<Double> l = new ArrayList<>();
        for (String w : words(lrs)) l.add(number("--phase-lr", w));
        List<Double> t = new ArrayList<>();
        for (String w : words(temperatures)) t.add(number("--phase-temperature", w));
        return new ProgressiveOptions(kinds, s, l, t, words(trainable), patience,
                lensLayers == null || lensLayers.isBlank() ? null : LayerMap.parse(lensLayers), lensWeight, promptTemplates, templateEta, templateExplore, unfreeze, merge);
    }

    /**
     * Each phase's settings: its steps (given, or {@code totalSteps} shared out evenly, the remainder to the last),
     * learning rate, temperature and trainable set (given, one for all, or the defaults).
     */
    public List<PhaseSettings> resolve(long totalSteps, double lr, double temperature) {
        List<PhaseSettings> out = new ArrayList<>();
        int n = phases.size();
        for (int i = 0; i < n; i++) {
            long even = Math.max(1, totalSteps / n + (i == n - 1 ? totalSteps % n : 0));
            String kind = phases.get(i);
            out.add(new PhaseSettings(kind, pick(steps, i, even), pick(lrs, i, lr), pick(temperatures, i, temperature),
                    pick(trainable, i, kind.equals("representations") ? "lower" : "all")));
        }
        return out;
    }

    /** For the run's fingerprint. */
    public String describe() {
        return String.format(Locale.ROOT, "phases=%s steps=%s lr=%s T=%s trainable=%s patience=%d lens=%s x%s templates=%s eta=%s explore=%s unfreeze=%s merge=%s",
                phases, steps, lrs, temperatures, trainable, patience, lensLayers == null ? "uniform" : lensLayers, lensWeight,
                promptTemplates, templateEta, templateExplore, unfreeze, merge);
    }

    private static <T> T pick(List<T> given, int i, T fallback) {
        if (given.isEmpty()) return fallback;
        return given.size() == 1 ? given.getFirst() : given.get(i);
    }

    private static void checkCount(String flag, int given, int phases) {
        if (given > 1 && given != phases) {
            throw new IllegalArgumentException(flag + " has " + given + " entries for " + phases + " phases (give one per phase, or one for all)");
        }
    }

    private static List<String> words(String text) {
        if (text == null || text.isBlank()) return List.of();
        List<String> out = new ArrayList<>();
        for (String w : text.split(",")) out.add(w.trim().toLowerCase(Locale.ROOT));
        return out;
    }

    private static double number(String flag, String w) {
        try {
            return Double.parseDouble(w);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + ": '" + w + "' is not a number");
        }
    }
}
