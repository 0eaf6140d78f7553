package dev.retort.distill.train;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.Optimizer;
import dev.retort.models.Crc32c;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.hf.SafetensorsFile;
import dev.retort.models.hf.SafetensorsWriter;
import dev.retort.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training checkpoint: one safetensors file holding the trainable parameters ({@code param/<name>}) and the
 * optimizer state of the current phase ({@code optim/<name>.<kind>}), with the step, the phase, the counters of
 * random draws ({@code random/<name>}: LoRA dropout masks), the run's fingerprint (what a resume must keep)
 * and its adjustable settings (what a resume may change) in its metadata. The
 * writer goes through a temporary file and an atomic rename, so a killed run leaves either the previous
 * checkpoint or the new one, never half of one.
 */
public final class TrainingCheckpoint {
    public static final String FILE_NAME = "checkpoint.safetensors";

    private TrainingCheckpoint() {}

    /** What a checkpoint gives back besides the parameters it restored in place. */
    public record Restored(Path file, long step, int phase, Map<String, Tensor> optimizerState, long optimizerSteps,
                           Map<String, Long> randomState, String adjustable) {
        /**
         * Loads the saved optimizer state into {@code optimizer} (of the phase the checkpoint was in).
         *
         * @throws IllegalArgumentException naming the file when the state does not fit the optimizer
         */
        public void loadInto(Optimizer optimizer) {
            try {
                optimizer.loadState(optimizerState, optimizerSteps);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * Writes the parameters, the optimizer state of phase {@code phase} (the phase that took step {@code step})
     * and the run's fingerprint.
     */
    public static void save(Path file, long step, int phase, String fingerprint, String adjustable, List<Parameter> params,
                            Optimizer optimizer, Map<String, Long> randomState) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Parameter p : params) tensors.put("param/" + p.name(), p.value());
        for (Map.Entry<String, Tensor> e : optimizer.state().entrySet()) tensors.put("optim/" + e.getKey(), e.getValue());
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("step", Long.toString(step));
        meta.put("phase", Integer.toString(phase));
        meta.put("optimizer_steps", Long.toString(optimizer.stepCount()));
        meta.put("fingerprint", fingerprint);
        meta.put("adjustable", adjustable);
        for (Map.Entry<String, Long> e : randomState.entrySet()) meta.put("random/" + e.getKey(), Long.toString(e.getValue()));
        meta.put("crc32c", Long.toHexString(checksum(tensors)));
        SafetensorsWriter.write(file, tensors, meta);
    }

    /**
     * Restores the parameters from {@code file} and returns the step to continue from with the optimizer state
     * of the phase it was in. Refuses a checkpoint from a run with other settings (its fingerprint differs).
     *
     * @throws IllegalArgumentException in one line naming the file, for a checkpoint that is missing, damaged
     *     or from another run
     */
    public static Restored restore(Path file, String fingerprint, List<Parameter> params) {
        if (!Files.isRegularFile(file)) throw new IllegalArgumentException(file + ": no checkpoint to resume from");
        try {
            return read(file, fingerprint, params);
        } catch (ModelFileException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    private static Restored read(Path file, String fingerprint, List<Parameter> params) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String> meta = f.metadata();
            String saved = meta.getOrDefault("fingerprint", "");
            if (!saved.equals(fingerprint)) {
                throw new IllegalArgumentException(file + ": this checkpoint was written by a run with other settings; "
                        + "resume with the same options (saved: " + saved + ", now: " + fingerprint + ")");
            }
            String savedSum = meta.get("crc32c");
            if (savedSum != null) {
                Map<String, Tensor> all = new LinkedHashMap<>();
                for (String name : f.names()) all.put(name, f.tensor(name));
                if (!savedSum.equals(Long.toHexString(checksum(all)))) {
                    throw new IllegalArgumentException(file + ": the checkpoint's contents do not match its checksum (damaged "
                            + "on disk?); resume from an intact copy or start again");
                }
            }
            for (Parameter p : params) {
                String name = "param/" + p.name();
                if (!f.contains(name)) throw new IllegalArgumentException(file + ": no tensor '" + name + "'");
                f.tensor(name).copyInto(p.value());
            }
            Map<String, Tensor> state = new LinkedHashMap<>();
            for (String name : f.names()) {
                if (name.startsWith("optim/")) state.put(name.substring("optim/".length()), copy(f, name));
            }
            Map<String, Long> random = new LinkedHashMap<>();
            for (String key : meta.keySet()) {
                if (key.startsWith("random/")) random.put(key.substring("random/".length()), number(file, meta, key));
            }
            return new Restored(file, number(file, meta, "step"), (int) number(file, meta, "phase"), state,
                    number(file, meta, "optimizer_steps"), random, meta.getOrDefault("adjustable", ""));
        }
    }

    /** CRC-32C over the tensors' names and bytes, in name order (the file's own order does not matter). */
    static long checksum(Map<String, Tensor> tensors) {
        Crc32c crc = new Crc32c();
        for (String name : new java.util.TreeSet<>(tensors.keySet())) {
            Tensor t = tensors.get(name);
            crc.update(name).update(t.segment().asSlice(t.byteOffset(), t.size() * t.dtype().bytes));
        }
        return crc.value();
    }

    private static long number(Path file, Map<String, String> meta, String key) {
        try {
            return Long.parseLong(meta.getOrDefault(key, ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(file + ": checkpoint metadata '" + key + "' is '" + meta.get(key) + "', expected a whole number");
        }
    }

    private static Tensor copy(ModelWeights f, String name) {
        Tensor src = f.tensor(name);
        Tensor dst = Tensor.zeros(java.lang.foreign.Arena.ofAuto(), src.dtype(), src.shape());
        src.copyInto(dst);
        return dst;
    }
}
