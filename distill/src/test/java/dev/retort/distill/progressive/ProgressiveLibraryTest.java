package dev.retort.distill.progressive;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.DistillJob;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaOptions;
import dev.retort.distill.options.DataOptions;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.options.FeatureOptions;
import dev.retort.distill.options.GkdOptions;
import dev.retort.distill.options.LoraOptions;
import dev.retort.distill.options.ModelOptions;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.options.ProgressiveOptions;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.adapter.BottleneckConfig;
import dev.retort.models.lora.LoraConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code progressive} from the library: the option records built in code, one {@link DistillJob#run}, and the
 * adapter it writes opened with {@link Llm} — with LoRA and with bottleneck adapters, on stories260K.
 */
class ProgressiveLibraryTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {LoraOptions.LORA, LoraOptions.BOTTLENECK})
    void aProgressiveRunFromCodeWritesAnAdapterThatGenerates(String type, @TempDir Path work) throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
        StringBuilder text = new StringBuilder();
        for (String name : List.of("Lily", "Tom", "Sue", "Ben", "Max", "Mia", "Ann", "Sam")) {
            for (String thing : List.of("ball", "cat", "tree")) {
                text.append("Once upon a time, there was a little girl named ").append(name).append(". She loved her ").append(thing)
                        .append(". One day, she went to the park and was very happy.\n\n");
            }
        }
        Path data = Files.writeString(work.resolve("stories.txt"), text);
        LoraOptions adapters = new LoraOptions(null, 32, 0, LoraConfig.LLAMA_MODULES, false, 1, type, 4, BottleneckConfig.Placement.BOTH.cliName());
        ProgressiveOptions progressive = ProgressiveOptions.parse(null, "2,2,1", null, null, null, 0, null, 1.0, null, 3, 0.1, false, false);
        DistillOptions o = new DistillOptions("progressive", new ModelOptions(STORIES, null, null, "0,2,4"),
                DataOptions.DEFAULTS.withFiles(data, null).withSeqLen(32),
                TrainingConfig.DEFAULTS.withSteps(5, 4, 1e-3, 1e-4, 0).withSeed(3), adapters, KdConfig.DEFAULTS.withAlpha(1),
                FeatureOptions.DEFAULTS, MetaOptions.defaults(), new GkdOptions(0.5, 0.9, 8, false),
                new OutputOptions(work.resolve("run"), false, false), progressive);
        DistillJob.Outcome outcome = DistillJob.run(o);
        assertEquals(5, outcome.training().steps());
        assertTrue(outcome.adapterDir() != null && Files.isDirectory(outcome.adapterDir()));
        try (Llm llm = Llm.open(work.resolve("run/student-base"), outcome.adapterDir())) {
            assertTrue(!llm.generate("Once upon a time", Sampling.greedy(5)).isEmpty());
        }
    }
}
