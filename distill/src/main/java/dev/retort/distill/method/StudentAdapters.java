package dev.retort.distill.method;

import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.models.adapter.BottleneckFiles;
import dev.retort.models.adapter.BottleneckModel;
import dev.retort.models.lora.LoraModel;
import dev.retort.models.lora.PeftAdapter;
import java.nio.file.Path;
import java.util.List;

/**
 * The adapters a frozen student trains through, of either kind ({@code --adapter-type}): what a plan trains, how
 * its optimizer groups them, and how they are written after training, beside the base they adapt.
 */
public sealed interface StudentAdapters {
    /** The trainable parameters, in model order. */
    List<Parameter> parameters();

    /** Their optimizer groups, with weight decay {@code weightDecay} (LoRA+ sets B's learning-rate ratio). */
    List<ParamGroup> groups(double weightDecay, double loraPlus);

    /** Writes them into {@code dir} as their own files, naming {@code base} as the model they adapt. */
    void save(Path dir, String base);

    /** LoRA, written in PEFT's format (and mergeable by {@code retort export}). */
    record Lora(LoraModel model) implements StudentAdapters {
        @Override
        public List<Parameter> parameters() { return model.parameters(); }

        @Override
        public List<ParamGroup> groups(double weightDecay, double loraPlus) {
            return model.paramGroups(weightDecay, loraPlus);   // A and B apart for LoRA+
        }

        @Override
        public void save(Path dir, String base) { PeftAdapter.save(dir, model, base); }
    }

    /** Houlsby bottleneck adapters, written in Retort's own format and kept as modules (never merged). */
    record Bottleneck(BottleneckModel model) implements StudentAdapters {
        @Override
        public List<Parameter> parameters() { return model.parameters(); }

        @Override
        public List<ParamGroup> groups(double weightDecay, double loraPlus) {
            return List.of(ParamGroup.of(model.parameters(), weightDecay));   // LoRA+ has no meaning here
        }

        @Override
        public void save(Path dir, String base) { BottleneckFiles.save(dir, model, base); }
    }
}
