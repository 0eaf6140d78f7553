package dev.retort.distill;

import dev.retort.distill.meta.MetaOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every setting of a {@code retort distill} run, as the command line gives them (see DistillCommand for the
 * flags). Nullable fields are optional.
 */
public record DistillOptions(
        Path teacher, Path student, String studentLayers, Path data, Path evalData, Path out,
        String method, String kdLoss, double temperature, double alpha, double beta, int topK, Path teacherCache,
        Integer loraRank, double loraAlpha, double loraDropout, String loraTargets, boolean rsLora, double loraPlus,
        String featureLayers, String featureLoss, double featureWeight,
        long maxSteps, int epochs, int batchSize, int gradAccum, int seqLen, double lr, double minLr, long warmupSteps,
        double weightDecay, double clip, long seed, double heldOut, int evalEvery, int evalBatches, int checkpointEvery,
        boolean resume, boolean progress, String optimizer, MetaOptions meta) {

    /** Every method but meta: the meta settings take their defaults. */
    public DistillOptions(
            Path teacher, Path student, String studentLayers, Path data, Path evalData, Path out,
            String method, String kdLoss, double temperature, double alpha, double beta, int topK, Path teacherCache,
            Integer loraRank, double loraAlpha, double loraDropout, String loraTargets, boolean rsLora, double loraPlus,
            String featureLayers, String featureLoss, double featureWeight,
            long maxSteps, int epochs, int batchSize, int gradAccum, int seqLen, double lr, double minLr, long warmupSteps,
            double weightDecay, double clip, long seed, double heldOut, int evalEvery, int evalBatches, int checkpointEvery,
            boolean resume, boolean progress, String optimizer) {
        this(teacher, student, studentLayers, data, evalData, out, method, kdLoss, temperature, alpha, beta, topK, teacherCache,
                loraRank, loraAlpha, loraDropout, loraTargets, rsLora, loraPlus, featureLayers, featureLoss, featureWeight,
                maxSteps, epochs, batchSize, gradAccum, seqLen, lr, minLr, warmupSteps, weightDecay, clip, seed, heldOut,
                evalEvery, evalBatches, checkpointEvery, resume, progress, optimizer, MetaOptions.defaults());
    }

    /** The settings that change the numbers of a run (a resumed run must match them), in a stable order. */
    public Map<String, String> numericSettings() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("method", method);
        m.put("teacher", String.valueOf(teacher));
        m.put("student", student != null ? student.toString() : "layers " + studentLayers);
        m.put("data", String.valueOf(data));
        m.put("kd-loss", kdLoss);
        m.put("temperature", Double.toString(temperature));
        m.put("alpha", Double.toString(alpha));
        m.put("beta", Double.toString(beta));
        m.put("top-k", Integer.toString(topK));
        m.put("teacher-cache", String.valueOf(teacherCache));
        m.put("lora", loraRank == null ? "none" : "r=" + loraRank + " alpha=" + loraAlpha + " dropout=" + loraDropout
                + " targets=" + loraTargets + " rslora=" + rsLora + " lora-plus=" + loraPlus);
        m.put("feature-layers", featureLayers == null ? "none" : featureLayers + " " + featureLoss + " x" + featureWeight);
        m.put("steps", maxSteps > 0 ? Long.toString(maxSteps) : epochs + " epochs");
        m.put("batch", batchSize + " x " + gradAccum + " accumulated, seq " + seqLen);
        m.put("lr", lr + " -> " + minLr + ", warm-up " + warmupSteps + ", weight decay " + weightDecay + ", clip " + clip);
        m.put("optimizer", optimizer);
        m.put("seed", Long.toString(seed));
        m.put("held-out", evalData != null ? evalData.toString() : Double.toString(heldOut));
        if ("meta".equalsIgnoreCase(method)) m.put("meta", meta.describe());
        return m;
    }
}
