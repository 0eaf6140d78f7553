package dev.retort.distill.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.method.StudentAdapters;
import dev.retort.distill.options.OutputOptions;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.lora.Lora;
import dev.retort.models.lora.LoraConfig;
import dev.retort.models.lora.LoraModel;
import dev.retort.tensor.DType;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shared training loop: learning, resuming bit for bit, stopping on NaN, accumulation. */
class TrainerTest {
    @TempDir
    static Path shared;
    static PackedData train, heldOut;
    static int vocab;

    @BeforeAll
    static void corpus() throws Exception {
        TinyCorpus corpus = TinyCorpus.make(shared, 200);
        train = corpus.train();
        heldOut = corpus.heldOut();
        vocab = corpus.vocab();
    }

    static LlamaConfig tinyConfig() {
        return new LlamaConfig(32, 64, 2, 4, 2, 8, vocab, 64, 1e-5, 10000.0, null, true, 1, List.of(2), false, false, DType.F32);
    }

    static TrainingConfig config(long steps, int accum, int batch, double lr, int checkpointEvery) {
        return new TrainingConfig(steps, 0, batch, accum, lr, lr / 10, 2, 0.0, 1.0, "adamw", 7, 0, 2, checkpointEvery);
    }

    /** A single-phase SFT run of {@code model} writing to {@code out}. */
    static Trainer sft(LlamaModel model, Objective objective, TrainingConfig config, Path out, String fingerprint) {
        Phase phase = Phase.standard("sft", objective, model.trainableParameters(), config, train);
        return new Trainer(config, Plan.of(phase, null), model, null, heldOut, fingerprint, new OutputOptions(out, false, false));
    }

    static Trainer sft(LlamaModel model, TrainingConfig config, Path out, String fingerprint) {
        return sft(model, new SftObjective(model), config, out, fingerprint);
    }

    static List<Double> losses(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream()
                .filter(r -> r.containsKey("loss")).map(r -> ((Number) r.get("loss")).doubleValue()).toList();
    }

    @Test
    void sftLowersTheHeldOutLoss(@TempDir Path out) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 3);
            Trainer.Result r = sft(model, config(80, 1, 8, 3e-3, 0), out, "test").run(false);
            List<Double> losses = losses(out);
            assertEquals(80, losses.size());
            assertTrue(r.finalEval().ce() < Math.log(vocab) * 0.7, "held-out CE " + r.finalEval().ce() + " vs uniform " + Math.log(vocab));
            assertTrue(losses.get(79) < losses.get(0) * 0.7, "training loss " + losses.get(0) + " -> " + losses.get(79));
            assertTrue(Files.exists(out.resolve(TrainingCheckpoint.FILE_NAME)));
        }
    }

    /** Dies (like a killed process) when it reaches a given step of its phase. */
    record Killing(Objective inner, long killAt) implements Objective {
        @Override
        public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
            if (step == killAt) throw new IllegalStateException("killed at step " + step);
            return inner.loss(g, batch, divisor, step);
        }
    }

    @Test
    void resumeIsBitwiseIdentical(@TempDir Path straight, @TempDir Path interrupted) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel a = LlamaModel.random(tinyConfig(), arena, 5);
            sft(a, config(12, 2, 4, 2e-3, 5), straight, "fp").run(false);

            LlamaModel b = LlamaModel.random(tinyConfig(), arena, 5);
            assertThrows(IllegalStateException.class, () -> sft(b, new Killing(new SftObjective(b), 7), config(12, 2, 4, 2e-3, 5),
                    interrupted, "fp").run(false));
            // A fresh process: a new model (other random weights even) restored from the step-5 checkpoint.
            LlamaModel c = LlamaModel.random(tinyConfig(), arena, 99);
            sft(c, config(12, 2, 4, 2e-3, 5), interrupted, "fp").run(true);

            assertEquals(losses(straight), losses(interrupted), "the losses of every step, before and after resuming");
            assertSameParameters(a, c);
        }
    }

    /**
     * A plan of two phases with different trainable sets and objectives — SFT of the student's own weights, then
     * KD from a frozen teacher into LoRA adapters only, with LoRA dropout (its mask counter is random state the
     * checkpoint must keep) — killed in the second phase and resumed in a fresh
     * "process" (new models with other random weights): bitwise the run that was never interrupted. Once from a
     * checkpoint inside the second phase, once from the one at the boundary between the phases.
     */
    @Test
    void aTwoPhasePlanResumesBitwiseInItsSecondPhase(@TempDir Path work) {
        for (int checkpointEvery : new int[] {5, 4}) {
            Path straight = work.resolve("straight-" + checkpointEvery), interrupted = work.resolve("interrupted-" + checkpointEvery);
            try (Arena arena = Arena.ofShared()) {
                TwoPhases a = TwoPhases.of(arena, 5, -1);
                a.trainer(straight, checkpointEvery).run(false);
                List<Map<String, Object>> phases = new MetricsLog(straight.resolve("metrics.jsonl")).read().stream()
                        .filter(r -> r.containsKey("loss")).toList();
                assertEquals(List.of("sft", "sft", "sft", "sft", "kd", "kd", "kd", "kd"),
                        phases.stream().map(r -> r.get("phase")).toList(), "steps are logged with their phase");

                TwoPhases b = TwoPhases.of(arena, 5, 2);   // dies at the third step of the second phase (step 7)
                assertThrows(IllegalStateException.class, () -> b.trainer(interrupted, checkpointEvery).run(false));
                TwoPhases c = TwoPhases.of(arena, 77, -1);
                c.trainer(interrupted, checkpointEvery).run(true);

                assertEquals(losses(straight), losses(interrupted), "checkpoint every " + checkpointEvery + ": losses of every step");
                assertSameParameters(a.student, c.student);
                for (Parameter p : a.adapters.parameters()) {
                    Parameter q = c.adapters.parameters().stream().filter(x -> x.name().equals(p.name())).findFirst().orElseThrow();
                    assertArrayEquals(p.value().toFloatArray(), q.value().toFloatArray(), p.name());
                }
                float[] kdGrew = a.adapters.parameters().get(1).value().toFloatArray();
                boolean moved = false;
                for (float v : kdGrew) moved |= v != 0;
                assertTrue(moved, "the second phase trained the adapters (LoRA B starts at zero)");
            }
        }
    }

    /** The two-phase run of {@link #aTwoPhasePlanResumesBitwiseInItsSecondPhase}, from a model seed. */
    record TwoPhases(LlamaModel student, List<Parameter> weights, LlamaModel teacher, LoraModel adapters, Objective sft, Objective kd) {
        static TwoPhases of(Arena arena, long studentSeed, long killAtKdStep) {
            LlamaModel student = LlamaModel.random(tinyConfig(), arena, studentSeed);
            List<Parameter> weights = student.trainableParameters();   // before LoRA freezes them
            LlamaModel teacher = LlamaModel.random(tinyConfig(), arena, 1234);
            teacher.freeze();
            LoraModel adapters = Lora.attach(student, LoraConfig.of(2, 4, LoraConfig.ALL_LINEAR).withSeed(9).withDropout(0.1));
            Objective kd = KdObjective.live(student, teacher, KdConfig.DEFAULTS);
            return new TwoPhases(student, weights, teacher, adapters, new SftObjective(student),
                    killAtKdStep < 0 ? kd : new Killing(kd, killAtKdStep));
        }

        Trainer trainer(Path out, int checkpointEvery) {
            TrainingConfig config = config(8, 1, 4, 2e-3, checkpointEvery);
            TrainingConfig sftConfig = config(4, 1, 4, 2e-3, checkpointEvery);
            Phase first = Phase.standard("sft", sft, weights, sftConfig, train);
            TrainingConfig kdConfig = config(4, 1, 4, 5e-3, checkpointEvery).withSeed(11);
            Phase second = Phase.standard("kd", kd, adapters.parameters(), adapters.paramGroups(0, 2), kdConfig, train);
            return new Trainer(config, new Plan(List.of(first, second), new StudentAdapters.Lora(adapters), List.of()), student, teacher, heldOut,
                    "two phases", new OutputOptions(out, false, false));
        }
    }

    static void assertSameParameters(LlamaModel a, LlamaModel b) {
        for (Map.Entry<String, Parameter> e : a.namedParameters().entrySet()) {
            assertArrayEquals(e.getValue().value().toFloatArray(), b.namedParameters().get(e.getKey()).value().toFloatArray(), e.getKey());
        }
    }

    @Test
    void resumingWithOtherSettingsIsRefused(@TempDir Path out) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel a = LlamaModel.random(tinyConfig(), arena, 5);
            sft(a, config(3, 1, 4, 1e-3, 0), out, "lr=1e-3").run(false);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    sft(a, config(6, 1, 4, 1e-3, 0), out, "lr=5e-3").run(true));
            assertTrue(e.getMessage().contains("other settings"), e.getMessage());
        }
    }

    @Test
    void aNanLossStopsTheRunAndKeepsTheLastGoodCheckpoint(@TempDir Path out) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 5);
            Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () ->
                    sft(model, config(40, 1, 4, 1e9, 4), out, "fp").run(false));
            assertTrue(e.getMessage().contains("not finite") || e.getMessage().contains("NaN") || e.getMessage().contains("Infinity"), e.getMessage());
            assertTrue(e.getMessage().contains("checkpoint"), e.getMessage());
            Path checkpoint = out.resolve(TrainingCheckpoint.FILE_NAME);
            if (Files.exists(checkpoint)) {
                // Whatever checkpoint exists holds finite parameters: a NaN step is never saved.
                try (var f = dev.retort.models.hf.SafetensorsFile.open(checkpoint)) {
                    for (String name : f.names()) {
                        for (float v : f.tensor(name).toFloatArray()) assertFalse(Float.isNaN(v), name);
                    }
                }
            }
        }
    }

    @Test
    void anUpdateThatOverflowsIsNeverCheckpointed(@TempDir Path out) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 5);
            // lr 1e39: the loss and gradient of step 1 are finite, its update is not
            Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () ->
                    sft(model, config(5, 1, 4, 1e39, 1), out, "fp").run(false));
            assertTrue(e.getMessage().contains("step 1") && e.getMessage().contains("non-finite"), e.getMessage());
            assertTrue(e.getMessage().contains("no checkpoint was written yet"), e.getMessage());
            assertFalse(Files.exists(out.resolve(TrainingCheckpoint.FILE_NAME)), "the overflowed step-1 parameters were not saved");
        }
    }

    @Test
    void aRunThatCollapsesToConstantOutputStops(@TempDir Path out) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 5);
            // lr 1e4 without clipping saturates every unit: the loss stays, the gradient vanishes
            Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () ->
                    sft(model, new TrainingConfig(40, 0, 4, 1, 1e4, 0, 0, 0, 0, "adamw", 7, 0, 2, 0), out, "fp").run(false));
            assertTrue(e.getMessage().contains("collapsed"), e.getMessage());
        }
    }

    @Test
    void aDamagedCheckpointIsRefused(@TempDir Path out) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 5);
            sft(model, config(3, 1, 4, 1e-3, 0), out, "fp").run(false);
            Path checkpoint = out.resolve(TrainingCheckpoint.FILE_NAME);
            byte[] bytes = Files.readAllBytes(checkpoint);
            bytes[bytes.length - 5] ^= 0x10;   // one bit of the last tensor's data
            Files.write(checkpoint, bytes);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    sft(LlamaModel.random(tinyConfig(), arena, 5), config(6, 1, 4, 1e-3, 0), out, "fp").run(true));
            assertTrue(e.getMessage().contains("checksum") && e.getMessage().contains(checkpoint.toString()), e.getMessage());
        }
    }

    @Test
    void accumulatingTwoHalfBatchesTakesTheSameStepAsOneFullBatch(@TempDir Path one, @TempDir Path two) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel a = LlamaModel.random(tinyConfig(), arena, 8), b = LlamaModel.random(tinyConfig(), arena, 8);
            sft(a, config(1, 1, 8, 1e-3, 0), one, "fp").run(false);
            sft(b, config(1, 2, 4, 1e-3, 0), two, "fp").run(false);
            assertEquals(losses(one).get(0), losses(two).get(0), 1e-6);
            for (Map.Entry<String, Parameter> e : a.namedParameters().entrySet()) {
                float[] x = e.getValue().value().toFloatArray(), y = b.namedParameters().get(e.getKey()).value().toFloatArray();
                for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 1e-6, e.getKey() + "[" + i + "]");
            }
        }
    }
}
