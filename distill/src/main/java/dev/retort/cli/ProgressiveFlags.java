package dev.retort.cli;

import dev.retort.distill.options.ProgressiveOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The command-line face of {@link ProgressiveOptions} ({@code --method progressive}), a mixin like those of {@link OptionGroups}. */
final class ProgressiveFlags {
    @Option(names = "--phases", description = "progressive: the phases in order, of representations, outputs, generation (default all three).")
    String phases;
    @Option(names = "--phase-steps", description = "progressive: optimizer steps per phase, e.g. 40,40,20 (default: --max-steps shared out evenly).")
    String steps;
    @Option(names = "--phase-lr", description = "progressive: peak learning rate per phase (default: --lr).")
    String lrs;
    @Option(names = "--phase-temperature", description = "progressive: KD temperature per phase (default: --temperature).")
    String temperatures;
    @Option(names = "--phase-trainable", description = "progressive: adapters each phase trains, lower, upper or all (default lower,all,all).")
    String trainable;
    @Option(names = "--phase-patience", description = "progressive: end a phase after this many held-out measurements (every --eval-every steps) without a new best; 0 = never (default ${DEFAULT-VALUE}).")
    int patience = ProgressiveOptions.DEFAULTS.patience();
    @Option(names = "--lens-layers", description = "progressive: logit-lens pairs student:teacher, e.g. 0:1,1:3 (default: spread evenly).")
    String lensLayers;
    @Option(names = "--lens-weight", description = "progressive: weight of the logit-lens cross-entropy in the representations phase (default ${DEFAULT-VALUE}).")
    double lensWeight = ProgressiveOptions.DEFAULTS.lensWeight();

    @Option(names = "--prompt-templates", description = "progressive: prompt templates for the unlabelled inputs, one per line with one {input}; chosen adaptively (default: the input alone).")
    Path promptTemplates;
    @Option(names = "--template-eta", description = "progressive: how sharply the template bandit prefers high-scoring templates (default ${DEFAULT-VALUE}).")
    double templateEta = ProgressiveOptions.DEFAULTS.templateEta();
    @Option(names = "--template-explore", description = "progressive: share of template draws made uniformly (default ${DEFAULT-VALUE}).")
    double templateExplore = ProgressiveOptions.DEFAULTS.templateExplore();

    @Option(names = "--progressive-unfreeze", description = "progressive: switch each phase's adapters on from the bottom layer upwards, one more layer per stage.")
    boolean unfreeze;
    @Option(names = "--merge-phases", description = "progressive: no progressive schedule: the phases' losses take turns, batch by batch, in one phase of --max-steps at --lr, every adapter trainable.")
    boolean merge;

    ProgressiveOptions options() {
        return ProgressiveOptions.parse(phases, steps, lrs, temperatures, trainable, patience, lensLayers, lensWeight, promptTemplates,
                templateEta, templateExplore, unfreeze, merge);
    }
}
