package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.models.lora.LoraAdapter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a {@link Method} makes of a run: its phases, run in order by the trainer, and what is written after them.
 *
 * @param phases          at least one
 * @param studentAdapters the student's adapters when it trains through them (written as their own files: a PEFT
 *                        adapter, or Retort's bottleneck adapters), or null when the student's own weights train
 *                        (written as a model directory)
 * @param extraOutputs    anything else the method writes into the output directory after training (the
 *                        meta-distilled teacher, say)
 */
public record Plan(List<Phase> phases, StudentAdapters studentAdapters, List<Output> extraOutputs) {

    /** Something written into the run's output directory once training is over. */
    public interface Output {
        void write(Path outDir) throws IOException;
    }

    public Plan {
        phases = List.copyOf(phases);
        extraOutputs = List.copyOf(extraOutputs);
        if (phases.isEmpty()) throw new IllegalArgumentException("a plan needs at least one phase");
    }

    /** A plan of one phase. */
    public static Plan of(Phase phase, StudentAdapters studentAdapters) {
        return new Plan(List.of(phase), studentAdapters, List.of());
    }

    public Plan withOutput(Output output) {
        List<Output> all = new ArrayList<>(extraOutputs);
        all.add(output);
        return new Plan(phases, studentAdapters, all);
    }

    /** Steps of all phases. */
    public long totalSteps() {
        long n = 0;
        for (Phase p : phases) n += p.steps();
        return n;
    }

    /**
     * Makes phase {@code index}'s parameters trainable and freezes those that only other phases train, so that
     * gradients flow exactly into what the phase updates.
     */
    public void enterPhase(int index) {
        List<Parameter> current = phases.get(index).trainable();
        for (Phase p : phases) {
            for (Parameter q : p.trainable()) {
                if (!current.contains(q)) q.setTrainable(false);
            }
        }
        for (Parameter q : current) q.setTrainable(true);
    }

    /**
     * The counters of random draws a checkpoint must keep for an exact resume, by name: how many LoRA dropout
     * masks each of the student's adapters has drawn (the n-th mask's seed is a function of n). Bottleneck adapters
     * draw nothing.
     */
    public Map<String, Long> randomState() {
        Map<String, Long> counters = new LinkedHashMap<>();
        if (studentAdapters instanceof StudentAdapters.Lora(var lora)) {
            for (Map.Entry<String, LoraAdapter> e : lora.adapters().entrySet()) {
                counters.put("dropout_calls/" + e.getKey(), e.getValue().dropoutCalls());
            }
        }
        return counters;
    }

    /** Puts back what {@link #randomState} saved; a counter the checkpoint lacks is an error naming it. */
    public void restoreRandomState(Map<String, Long> saved, Path checkpoint) {
        if (!(studentAdapters instanceof StudentAdapters.Lora(var lora))) return;
        for (Map.Entry<String, LoraAdapter> e : lora.adapters().entrySet()) {
            Long calls = saved.get("dropout_calls/" + e.getKey());
            if (calls == null) {
                throw new IllegalArgumentException(checkpoint + ": no LoRA dropout counter for " + e.getKey()
                        + " (written by an older Retort?); an exact resume needs it");
            }
            e.getValue().setDropoutCalls(calls);
        }
    }

    /**
     * What a checkpoint holds besides the optimizer: every parameter any phase trains, then the objectives' own
     * state (a meta-distilled teacher), each once, by name.
     */
    public List<Parameter> checkpointed() {
        Map<String, Parameter> byName = new LinkedHashMap<>();
        for (Phase p : phases) {
            for (Parameter q : p.trainable()) byName.putIfAbsent(q.name(), q);
        }
        for (Phase p : phases) {
            for (Parameter q : p.objective().state()) byName.putIfAbsent(q.name(), q);
        }
        return new ArrayList<>(byName.values());
    }
}
