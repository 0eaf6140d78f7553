package dev.retort.autograd.optim;

/** The learning rate as a function of the step (0-based: the rate used for the update of step {@code step + 1}). */
@FunctionalInterface
public interface LrSchedule {
    double lr(long step);

    static LrSchedule constant(double lr) {
        return step -> lr;
    }

    /**
     * Linear warm-up from 0 to {@code peak} over {@code warmupSteps}, then cosine decay to {@code minLr} at
     * {@code totalSteps} (and {@code minLr} after).
     */
    static LrSchedule warmupCosine(double peak, long warmupSteps, long totalSteps, double minLr) {
        return step -> {
            if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
            if (step >= totalSteps) return minLr;
            double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
            return minLr + 0.5 * (peak - minLr) * (1 + Math.cos(Math.PI * progress));
        };
    }

    /** Linear warm-up to {@code peak}, then linear decay to {@code minLr} at {@code totalSteps}. */
    static LrSchedule warmupLinear(double peak, long warmupSteps, long totalSteps, double minLr) {
        return step -> {
            if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
            if (step >= totalSteps) return minLr;
            double progress = (double) (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
            return peak + (minLr - peak) * progress;
        };
    }
}
