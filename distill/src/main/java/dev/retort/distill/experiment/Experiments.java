package dev.retort.distill.experiment;

import java.util.List;
import java.util.stream.Collectors;

/** The experiments {@code retort experiment} knows, by name. */
public final class Experiments {
    private Experiments() {}

    public static final List<Experiment> ALL = List.of(new AceAttorneyExperiment(), new ProgressiveExperiment(), new PruneExperiment(),
            new MetaCostExperiment(), new DivergencesExperiment(), new TemperatureExperiment(), new LoraVsFullExperiment(),
            new FeatureLayersExperiment());

    /** The experiment called {@code name}; an unknown name is one line listing the known ones. */
    public static Experiment named(String name) {
        for (Experiment e : ALL) if (e.name().equals(name)) return e;
        throw new IllegalArgumentException("experiment: unknown experiment '" + name + "'; expected one of " + names());
    }

    /** The known names, comma-separated. */
    public static String names() {
        return ALL.stream().map(Experiment::name).collect(Collectors.joining(", "));
    }
}
