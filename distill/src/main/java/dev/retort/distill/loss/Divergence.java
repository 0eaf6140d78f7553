package dev.retort.distill.loss;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * How far the student's distribution q is from the teacher's p, both softmaxes at the KD temperature T.
 *
 * <p>Every divergence here is a sum over buckets b of one term, D(p, q) = Σ_b f(p_b, q_b) (a bucket is one
 * token, or with top-k truncation one of the teacher's top-k tokens or the "rest" of the vocabulary). So each
 * constant only says three things about a single bucket, all from log-probabilities (which stay finite where a
 * probability underflows):
 * <ul>
 *   <li>{@link #term}: f(p, q);
 *   <li>{@link #termGradient}: h = q·∂f/∂q = ∂f/∂(log q), the bucket's gradient in the form the chain rule
 *       through the softmax wants. {@link DistillationLoss} turns the h_b into logit gradients:
 *       ∂D/∂z_j = (1/T)·(q_j/q_{b(j)}·h_{b(j)} − q_j·Σ_b h_b);
 *   <li>{@link #teacherTermGradient}: e = p·∂f/∂p, the same for the teacher's logits ({@link TeacherSideKd}).
 * </ul>
 * The skew and mixture coefficient ({@link KdConfig#beta()}) is called β for JSD and α for the skew variants,
 * as in the papers; constants in h that multiply q_b alone (the "+1" of d(q log q)/dq) cancel in the chain
 * rule because Σ q_b = 1, but are kept so that h is exactly q·∂f/∂q.
 */
public enum Divergence {

    /** Forward KL(p‖q) = Σ p·(log p − log q); mode-covering. h = −p. */
    FKL("fkl") {
        @Override
        public double term(double logP, double logQ, double beta) {
            return pTimes(logP, logP - logQ);
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            return -Math.exp(logP);
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            return p * (logP - logQ + 1);
        }
    },

    /** Reverse KL(q‖p) = Σ q·(log q − log p); mode-seeking. h = q·(log q − log p + 1). */
    RKL("rkl") {
        @Override
        public double term(double logP, double logQ, double beta) {
            return pTimes(logQ, logQ - logP);
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            return pTimes(logQ, logQ - logP + 1);
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            return -Math.exp(logQ);
        }
    },

    /**
     * Generalised Jensen–Shannon: β·KL(p‖m) + (1−β)·KL(q‖m) with m = β·p + (1−β)·q, 0 &lt; β &lt; 1.
     * ∂f/∂q = β·p·(−(1−β)/m) + (1−β)·(log(q/m) + 1 − (1−β)·q/m) = (1−β)·log(q/m), since β·p + (1−β)·q = m;
     * so h = (1−β)·q·(log q − log m).
     */
    JSD("jsd") {
        @Override
        public double term(double logP, double logQ, double beta) {
            double logM = logMix(beta, logP, logQ);
            return beta * pTimes(logP, logP - logM) + (1 - beta) * pTimes(logQ, logQ - logM);
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            return (1 - beta) * pTimes(logQ, logQ - logMix(beta, logP, logQ));
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            return beta * p * (logP - logMix(beta, logP, logQ));
        }
    },

    /**
     * Skew KL (DistiLLM): KL(p ‖ m) with m = α·p + (1−α)·q, 0 ≤ α &lt; 1 (α = 0 is FKL). f = p·(log p − log m),
     * ∂f/∂q = −(1−α)·p/m, so h = −(1−α)·p·q/m.
     */
    SKL("skl") {
        @Override
        public double term(double logP, double logQ, double beta) {
            return pTimes(logP, logP - logMix(beta, logP, logQ));
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            return -(1 - beta) * Math.exp(logP + logQ - logMix(beta, logP, logQ));
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            double logM = logMix(beta, logP, logQ);
            return p * (logP - logM + 1 - beta * Math.exp(logP - logM));
        }
    },

    /**
     * Skew reverse KL (DistiLLM): KL(q ‖ m) with m = α·q + (1−α)·p, 0 ≤ α &lt; 1 (α = 0 is RKL).
     * f = q·(log q − log m), ∂f/∂q = log q + 1 − log m − α·q/m, so h = q·(log q − log m + 1 − α·q/m).
     */
    SRKL("srkl") {
        @Override
        public double term(double logP, double logQ, double beta) {
            return pTimes(logQ, logQ - logMix(beta, logQ, logP));
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            double logM = logMix(beta, logQ, logP);
            return pTimes(logQ, logQ - logM + 1 - beta * Math.exp(logQ - logM));
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            return -(1 - beta) * Math.exp(logP + logQ - logMix(beta, logQ, logP));
        }
    },

    /** Total variation ½·Σ |p − q|. ∂f/∂q = ½·sign(q − p) (0 where they are equal), so h = ½·q·sign(q − p). */
    TVD("tvd") {
        @Override
        public double term(double logP, double logQ, double beta) {
            return 0.5 * Math.abs(Math.exp(logP) - Math.exp(logQ));
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            return 0.5 * Math.exp(logQ) * Math.signum(logQ - logP);
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            return 0.5 * p * Math.signum(logP - logQ);
        }
    };

    private final String cliName;

    Divergence(String cliName) {
        this.cliName = cliName;
    }

    /** The name on the command line: fkl, rkl, jsd, skl, srkl or tvd. */
    public String cliName() {
        return cliName;
    }

    /** f(p, q) of one bucket, given log p and log q (either may be −∞ for an empty bucket). */
    public abstract double term(double logP, double logQ, double beta);

    /** h = q·∂f/∂q of one bucket, given log p and log q: what the student's logits need. */
    public abstract double termGradient(double logP, double logQ, double beta);

    /**
     * e = p·∂f/∂p of one bucket, given log p and log q: what the teacher's logits need (meta-distillation,
     * {@link TeacherSideKd}). Every e carries a factor p, so an empty teacher bucket gives 0. Derivations, with m
     * the mixture of each divergence:
     * <ul>
     *   <li>FKL f = p(log p − log q): ∂f/∂p = log p − log q + 1.
     *   <li>RKL f = q(log q − log p): ∂f/∂p = −q/p, so e = −q.
     *   <li>JSD, m = βp + (1−β)q: ∂f/∂p = β(log p/m + 1) − β²p/m − (1−β)βq/m = β(log p − log m).
     *   <li>SKL, m = βp + (1−β)q, f = p(log p − log m): ∂f/∂p = log p − log m + 1 − βp/m.
     *   <li>SRKL, m = βq + (1−β)p, f = q(log q − log m): ∂f/∂p = −(1−β)q/m.
     *   <li>TVD ½|p − q|: ∂f/∂p = ½·sign(p − q).
     * </ul>
     */
    public final double teacherTermGradient(double logP, double logQ, double beta) {
        if (logP == Double.NEGATIVE_INFINITY) return 0;
        return teacherGradient(Math.exp(logP), logP, logQ, beta);
    }

    /** e of {@link #teacherTermGradient} for a non-empty bucket, p = exp(logP). */
    abstract double teacherGradient(double p, double logP, double logQ, double beta);

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
            case SKL, SRKL -> beta >= 0 && beta < 1;
            default -> Double.isFinite(beta);
        };
    }

    /** exp(logP)·x, taken as 0 when the probability is 0 (so 0·log 0 = 0 and an empty bucket adds nothing). */
    private static double pTimes(double logP, double x) {
        return logP == Double.NEGATIVE_INFINITY ? 0 : Math.exp(logP) * x;
    }

    /** log(w·a + (1−w)·b) from log a and log b, without leaving log space. */
    static double logMix(double w, double logA, double logB) {
        double x = w == 0 ? Double.NEGATIVE_INFINITY : Math.log(w) + logA;
        double y = w == 1 ? Double.NEGATIVE_INFINITY : Math.log1p(-w) + logB;
        double max = Math.max(x, y);
        if (max == Double.NEGATIVE_INFINITY) return max;
        return max + Math.log(Math.exp(x - max) + Math.exp(y - max));
    }
}
