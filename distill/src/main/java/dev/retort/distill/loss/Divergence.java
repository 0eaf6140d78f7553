package dev.retort.distill.loss;

import dev.retort.tensor.kernels.KdTerm;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * How far the student's distribution q is from the teacher's p, both softmaxes at the KD temperature T: the seven
 * divergences {@code --kd-loss} offers. Each is a sum over buckets of one term whose value and derivatives —
 * f(p, q), h = q·∂f/∂q for the student's logits, e = p·∂f/∂p for the teacher's — are written once, with their
 * derivations, in {@link KdTerm} (in the tensor module, where the SIMD KD row kernels use them); this enum adds
 * the command-line names and the checks of β.
 */
public enum Divergence {
    /** Forward KL(p‖q); mode-covering. */
    FKL("fkl", KdTerm.FKL),
    /** Reverse KL(q‖p); mode-seeking. */
    RKL("rkl", KdTerm.RKL),
    /** Generalised Jensen–Shannon with mixture weight β, 0 &lt; β &lt; 1. */
    JSD("jsd", KdTerm.JSD),
    /** GKD's generalised JSD(β) normalised by β(1−β): forward KL at β = 0, reverse KL at β = 1, continuous between. */
    GJSD("gjsd", KdTerm.GJSD),
    /** Skew KL (DistiLLM), KL(p ‖ α·p + (1−α)·q), 0 ≤ α &lt; 1 (α = 0 is FKL). */
    SKL("skl", KdTerm.SKL),
    /** Skew reverse KL (DistiLLM), KL(q ‖ α·q + (1−α)·p), 0 ≤ α &lt; 1 (α = 0 is RKL). */
    SRKL("srkl", KdTerm.SRKL),
    /** Total variation ½·Σ |p − q|. */
    TVD("tvd", KdTerm.TVD);

    private final String cliName;
    private final KdTerm term;

    Divergence(String cliName, KdTerm term) {
        this.cliName = cliName;
        this.term = term;
    }

    /** The name on the command line: fkl, rkl, jsd, skl, srkl or tvd. */
    public String cliName() {
        return cliName;
    }

    /** The bucket arithmetic of this divergence. */
    public KdTerm kdTerm() {
        return term;
    }

    /** f(p, q) of one bucket, given log p and log q (either may be −∞ for an empty bucket). */
    public double term(double logP, double logQ, double beta) {
        return term.term(logP, logQ, beta);
    }

    /** h = q·∂f/∂q of one bucket: what the student's logits need. */
    public double termGradient(double logP, double logQ, double beta) {
        return term.termGradient(logP, logQ, beta);
    }

    /** e = p·∂f/∂p of one bucket: what the teacher's logits need ({@link TeacherSideKd}). */
    public double teacherTermGradient(double logP, double logQ, double beta) {
        return term.teacherTermGradient(logP, logQ, beta);
    }

    /** The divergence for a command-line name (case-insensitive), or a one-line error listing the choices. */
    public static Divergence parse(String name) {
        for (Divergence d : values()) {
            if (d.cliName.equalsIgnoreCase(name.trim())) return d;
        }
        throw new IllegalArgumentException("unknown divergence '" + name + "': expected one of "
                + Arrays.stream(values()).map(Divergence::cliName).collect(Collectors.joining("|")));
    }

    /** Whether {@code beta} is a valid mixture (JSD) or skew (SKL, SRKL) coefficient for this divergence. */
    public boolean acceptsBeta(double beta) {
        return switch (this) {
            case JSD -> beta > 0 && beta < 1;
            case GJSD -> beta >= 0 && beta <= 1;
            case SKL, SRKL -> beta >= 0 && beta < 1;
            default -> Double.isFinite(beta);
        };
    }
}
