package dev.retort.tensor.kernels;

/**
 * The per-bucket terms of the distillation divergences, where the kernels can reach them. A divergence between
 * the teacher's distribution p and the student's q (both softmaxes at the KD temperature) is a sum over buckets
 * b of one term, D(p, q) = Σ_b f(p_b, q_b) — a bucket is one token, or with top-k truncation one of the
 * teacher's top-k tokens or the rest of the vocabulary. Each constant says three things about one bucket, all
 * from log-probabilities (finite where a probability underflows), in double precision:
 * <ul>
 *   <li>{@link #term}: f(p, q);
 *   <li>{@link #termGradient}: h = q·∂f/∂q = ∂f/∂(log q), the form the chain rule through the student's softmax
 *       wants: ∂D/∂z_j = (1/T)·(q_j/q_{b(j)}·h_{b(j)} − q_j·Σ_b h_b);
 *   <li>{@link #teacherTermGradient}: e = p·∂f/∂p, the same for the teacher's logits (meta-distillation).
 * </ul>
 * These are the reference the SIMD KD row kernels ({@link Elementwise#kdTerms}) are tested against and the
 * scalar twin's arithmetic. The coefficient β is JSD's mixture weight (0 &lt; β &lt; 1) or the skew α of SKL
 * and SRKL (0 ≤ α &lt; 1), as the papers call them. Constants in h that multiply q_b alone (the "+1" of
 * d(q log q)/dq) cancel in the chain rule because Σ q_b = 1, but are kept so that h is exactly q·∂f/∂q.
 * The command-line names and checks live in {@code distill/loss/Divergence}.
 */
public enum KdTerm {

    /** Forward KL(p‖q) = Σ p·(log p − log q); mode-covering. h = −p; e = p·(log p − log q + 1). */
    FKL {
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

    /** Reverse KL(q‖p) = Σ q·(log q − log p); mode-seeking. h = q·(log q − log p + 1); ∂f/∂p = −q/p, e = −q. */
    RKL {
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
     * Generalised Jensen–Shannon: β·KL(p‖m) + (1−β)·KL(q‖m) with m = β·p + (1−β)·q.
     * ∂f/∂q = β·p·(−(1−β)/m) + (1−β)·(log(q/m) + 1 − (1−β)·q/m) = (1−β)·log(q/m), since β·p + (1−β)·q = m;
     * so h = (1−β)·q·(log q − log m). ∂f/∂p = β(log p/m + 1) − β²p/m − (1−β)βq/m = β(log p − log m).
     */
    JSD {
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
     * GKD's generalised JSD(β) (Agarwal et al. 2024), normalised so that it runs continuously from forward KL at
     * β = 0 to reverse KL at β = 1: JSD(β)/(β(1−β)) for 0 &lt; β &lt; 1 (JSD(β) itself vanishes like β·FKL and
     * (1−β)·RKL at the ends, which is why implementations that special-case β = 0 and 1 jump there). For
     * 0 &lt; β &lt; 1 it is TRL's {@code generalized_jsd_loss} divided by the constant β(1−β): the same minimiser
     * and gradient directions. h and e are JSD's divided by β(1−β); at the ends, FKL's and RKL's.
     */
    GJSD {
        @Override
        public double term(double logP, double logQ, double beta) {
            if (beta == 0) return FKL.term(logP, logQ, beta);
            if (beta == 1) return RKL.term(logP, logQ, beta);
            return JSD.term(logP, logQ, beta) / (beta * (1 - beta));
        }

        @Override
        public double termGradient(double logP, double logQ, double beta) {
            if (beta == 0) return FKL.termGradient(logP, logQ, beta);
            if (beta == 1) return RKL.termGradient(logP, logQ, beta);
            return JSD.termGradient(logP, logQ, beta) / (beta * (1 - beta));
        }

        @Override
        double teacherGradient(double p, double logP, double logQ, double beta) {
            if (beta == 0) return FKL.teacherGradient(p, logP, logQ, beta);
            if (beta == 1) return RKL.teacherGradient(p, logP, logQ, beta);
            return JSD.teacherGradient(p, logP, logQ, beta) / (beta * (1 - beta));
        }
    },

    /**
     * Skew KL (DistiLLM): KL(p ‖ m) with m = α·p + (1−α)·q (α = 0 is FKL). f = p·(log p − log m),
     * ∂f/∂q = −(1−α)·p/m, so h = −(1−α)·p·q/m; ∂f/∂p = log p − log m + 1 − αp/m.
     */
    SKL {
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
     * Skew reverse KL (DistiLLM): KL(q ‖ m) with m = α·q + (1−α)·p (α = 0 is RKL). f = q·(log q − log m),
     * ∂f/∂q = log q + 1 − log m − α·q/m, so h = q·(log q − log m + 1 − α·q/m); ∂f/∂p = −(1−α)q/m.
     */
    SRKL {
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

    /** Total variation ½·Σ |p − q|. ∂f/∂q = ½·sign(q − p) (0 where equal), so h = ½·q·sign(q − p); e = ½·p·sign(p − q). */
    TVD {
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

    /** f(p, q) of one bucket, given log p and log q (either may be −∞ for an empty bucket). */
    public abstract double term(double logP, double logQ, double beta);

    /** h = q·∂f/∂q of one bucket, given log p and log q. */
    public abstract double termGradient(double logP, double logQ, double beta);

    /** e = p·∂f/∂p of one bucket; every e carries a factor p, so an empty teacher bucket gives 0. */
    public final double teacherTermGradient(double logP, double logQ, double beta) {
        if (logP == Double.NEGATIVE_INFINITY) return 0;
        return teacherGradient(Math.exp(logP), logP, logQ, beta);
    }

    /** e of {@link #teacherTermGradient} for a non-empty bucket, p = exp(logP). */
    abstract double teacherGradient(double p, double logP, double logQ, double beta);

    /** exp(logP)·x, taken as 0 when the probability is 0 (so 0·log 0 = 0 and an empty bucket adds nothing). */
    static double pTimes(double logP, double x) {
        return logP == Double.NEGATIVE_INFINITY ? 0 : Math.exp(logP) * x;
    }

    /** log(w·a + (1−w)·b) from log a and log b, without leaving log space. */
    public static double logMix(double w, double logA, double logB) {
        double x = w == 0 ? Double.NEGATIVE_INFINITY : Math.log(w) + logA;
        double y = w == 1 ? Double.NEGATIVE_INFINITY : Math.log1p(-w) + logB;
        double max = Math.max(x, y);
        if (max == Double.NEGATIVE_INFINITY) return max;
        return max + Math.log(Math.exp(x - max) + Math.exp(y - max));
    }
}
