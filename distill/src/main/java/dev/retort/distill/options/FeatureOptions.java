package dev.retort.distill.options;

import dev.retort.distill.loss.LayerMap;
import java.util.Locale;

/**
 * Feature (hidden-state) distillation beside the logits: pairs of student and teacher layers, the loss between
 * their outputs, and its weight.
 *
 * @param layers  student:teacher pairs, or null for none
 * @param cosine  the cosine loss instead of mean squared error
 */
public record FeatureOptions(LayerMap layers, boolean cosine, double weight) {
    public static final FeatureOptions DEFAULTS = new FeatureOptions(null, false, 1.0);

    /** From the command line's text: "0:1,1:3", "mse" or "cosine". */
    public static FeatureOptions parse(String layers, String loss, double weight) {
        String l = loss == null ? "mse" : loss.toLowerCase(Locale.ROOT);
        if (!l.equals("mse") && !l.equals("cosine")) throw new IllegalArgumentException("--feature-loss must be mse or cosine, got '" + loss + "'");
        return new FeatureOptions(layers == null ? null : LayerMap.parse(layers), l.equals("cosine"), weight);
    }

    /** For the run's fingerprint. */
    public String describe() {
        return layers == null ? "none" : layers + " " + (cosine ? "cosine" : "mse") + " x" + weight;
    }
}
