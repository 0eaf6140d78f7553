package dev.retort.distill.meta;

import java.nio.file.Path;
import java.util.Locale;

/**
 * The settings of {@code retort distill --method meta} (see {@link MetaObjective} for the algorithm).
 *
 * @param update           {@code lora}: the teacher's meta-update trains only LoRA matrices on the frozen teacher
 *                         (Cantini et al. 2025); {@code full}: every teacher parameter, as F32 copies (MetaDistil)
 * @param teacherLr        AdamW learning rate of the teacher's meta-update (constant)
 * @param pilotLr          λ of the pilot update θ' = θ − λ·∇θ L (plain gradient descent)
 * @param quizData         held-out quiz file, or null to set aside {@code quizFraction} of the training rows
 * @param quizFraction     fraction of training rows used as the quiz split when no quiz file is given
 * @param fdStep           ε·‖v‖ of the central finite difference of ∇φ L at θ ± ε·v
 * @param teacherLoraRank  rank of the teacher's LoRA (lora update)
 * @param teacherLoraAlpha alpha of the teacher's LoRA
 */
public record MetaOptions(String update, double teacherLr, double pilotLr, Path quizData, double quizFraction,
                          double fdStep, int teacherLoraRank, double teacherLoraAlpha) {

    public MetaOptions {
        update = update == null ? "lora" : update.toLowerCase(Locale.ROOT);
        if (!update.equals("lora") && !update.equals("full")) {
            throw new IllegalArgumentException("--meta-update must be lora or full, got '" + update + "'");
        }
        if (!(teacherLr > 0) || Double.isInfinite(teacherLr)) throw new IllegalArgumentException("--teacher-lr must be a positive number, got " + teacherLr);
        if (!(pilotLr >= 0) || Double.isInfinite(pilotLr)) throw new IllegalArgumentException("--pilot-lr must be a finite number >= 0, got " + pilotLr);
        if (quizData == null && !(quizFraction > 0 && quizFraction < 1)) {
            throw new IllegalArgumentException("--quiz-fraction must be in (0, 1) when no --quiz-data is given, got " + quizFraction);
        }
        if (!(fdStep > 0) || Double.isInfinite(fdStep)) throw new IllegalArgumentException("--fd-step must be a positive number, got " + fdStep);
        if (teacherLoraRank < 1) throw new IllegalArgumentException("--teacher-lora-rank must be at least 1, got " + teacherLoraRank);
        if (!(teacherLoraAlpha > 0) || Double.isInfinite(teacherLoraAlpha)) {
            throw new IllegalArgumentException("--teacher-lora-alpha must be a positive number, got " + teacherLoraAlpha);
        }
    }

    /** The command line's defaults. */
    public static MetaOptions defaults() {
        return new MetaOptions("lora", 1e-4, 1e-2, null, 0.1, 1e-2, 8, 16);
    }

    public boolean full() {
        return update.equals("full");
    }

    /** For the run's fingerprint and report. */
    public String describe() {
        return "update=" + update + " teacher-lr=" + teacherLr + " pilot-lr=" + pilotLr + " quiz="
                + (quizData != null ? quizData.toString() : "fraction " + quizFraction) + " fd-step=" + fdStep
                + (full() ? "" : " teacher-lora r=" + teacherLoraRank + " alpha=" + teacherLoraAlpha);
    }
}
