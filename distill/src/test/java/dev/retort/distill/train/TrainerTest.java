package dev.retort.distill.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DemoCorpus;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
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
        String text = new DemoCorpus(1).generate(200);
        Path tokDir = shared.resolve("tok");
        BpeTrainer.train(text, 320, tokDir);
        Tokenizer tokenizer = Tokenizers.load(tokDir);
        vocab = tokenizer.vocabSize();
        Path data = shared.resolve("corpus.txt");
        Files.writeString(data, text);
        PackedData[] split = PackedData.pack(CorpusReader.read(data, tokenizer), 32, 0).split(0.1);
        train = split[0];
        heldOut = split[1];
    }

    static LlamaConfig tinyConfig() {
        return new LlamaConfig(32, 64, 2, 4, 2, 8, vocab, 64, 1e-5, 10000.0, null, true, 1, List.of(2), false, false, DType.F32);
    }

    static TrainingConfig config(Path out, long steps, int accum, int batch, double lr, int checkpointEvery) {
        return new TrainingConfig(steps, 0, batch, accum, lr, lr / 10, 2, 0.0, 1.0, 7, 0, 2, checkpointEvery, out, false);
    }

    static List<Double> losses(Path out) {
        return new MetricsLog(out.resolve("metrics.jsonl")).read().stream()
                .filter(r -> r.containsKey("loss")).map(r -> ((Number) r.get("loss")).doubleValue()).toList();
    }

    @Test
    void sftLowersTheHeldOutLoss(@TempDir Path out) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 3);
            Trainer.Result r = new Trainer(config(out, 80, 1, 8, 3e-3, 0), new SftObjective(model), model, null,
                    train, heldOut, "test", null).run(false);
            List<Double> losses = losses(out);
            assertEquals(80, losses.size());
            assertTrue(r.finalEval().ce() < Math.log(vocab) * 0.7, "held-out CE " + r.finalEval().ce() + " vs uniform " + Math.log(vocab));
            assertTrue(losses.get(79) < losses.get(0) * 0.7, "training loss " + losses.get(0) + " -> " + losses.get(79));
            assertTrue(Files.exists(out.resolve(TrainingCheckpoint.FILE_NAME)));
        }
    }

    /** Dies (like a killed process) when it reaches a given step. */
    record Killing(Objective inner, long killAt) implements Objective {
        @Override
        public StepLoss loss(Graph g, Batch batch, double divisor, long step) {
            if (step == killAt) throw new IllegalStateException("killed at step " + step);
            return inner.loss(g, batch, divisor, step);
        }

        @Override
        public List<ParamGroup> parameterGroups(double weightDecay) { return inner.parameterGroups(weightDecay); }

        @Override
        public List<Parameter> trainable() { return inner.trainable(); }

        @Override
        public String name() { return inner.name(); }
    }

    @Test
    void resumeIsBitwiseIdentical(@TempDir Path straight, @TempDir Path interrupted) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel a = LlamaModel.random(tinyConfig(), arena, 5);
            new Trainer(config(straight, 12, 2, 4, 2e-3, 5), new SftObjective(a), a, null, train, heldOut, "fp", null).run(false);

            LlamaModel b = LlamaModel.random(tinyConfig(), arena, 5);
            assertThrows(IllegalStateException.class, () -> new Trainer(config(interrupted, 12, 2, 4, 2e-3, 5),
                    new Killing(new SftObjective(b), 7), b, null, train, heldOut, "fp", null).run(false));
            // A fresh process: a new model (other random weights even) restored from the step-5 checkpoint.
            LlamaModel c = LlamaModel.random(tinyConfig(), arena, 99);
            new Trainer(config(interrupted, 12, 2, 4, 2e-3, 5), new SftObjective(c), c, null, train, heldOut, "fp", null).run(true);

            assertEquals(losses(straight), losses(interrupted), "the losses of every step, before and after resuming");
            for (Map.Entry<String, Parameter> e : a.namedParameters().entrySet()) {
                assertArrayEquals(e.getValue().value().toFloatArray(), c.namedParameters().get(e.getKey()).value().toFloatArray(), e.getKey());
            }
        }
    }

    @Test
    void resumingWithOtherSettingsIsRefused(@TempDir Path out) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel a = LlamaModel.random(tinyConfig(), arena, 5);
            new Trainer(config(out, 3, 1, 4, 1e-3, 0), new SftObjective(a), a, null, train, heldOut, "lr=1e-3", null).run(false);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    new Trainer(config(out, 6, 1, 4, 1e-3, 0), new SftObjective(a), a, null, train, heldOut, "lr=5e-3", null).run(true));
            assertTrue(e.getMessage().contains("other settings"), e.getMessage());
        }
    }

    @Test
    void aNanLossStopsTheRunAndKeepsTheLastGoodCheckpoint(@TempDir Path out) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel model = LlamaModel.random(tinyConfig(), arena, 5);
            Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () ->
                    new Trainer(config(out, 40, 1, 4, 1e9, 4), new SftObjective(model), model, null, train, heldOut, "fp", null).run(false));
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
    void accumulatingTwoHalfBatchesTakesTheSameStepAsOneFullBatch(@TempDir Path one, @TempDir Path two) {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel a = LlamaModel.random(tinyConfig(), arena, 8), b = LlamaModel.random(tinyConfig(), arena, 8);
            new Trainer(config(one, 1, 1, 8, 1e-3, 0), new SftObjective(a), a, null, train, heldOut, "fp", null).run(false);
            new Trainer(config(two, 1, 2, 4, 1e-3, 0), new SftObjective(b), b, null, train, heldOut, "fp", null).run(false);
            assertEquals(losses(one).get(0), losses(two).get(0), 1e-6);
            for (Map.Entry<String, Parameter> e : a.namedParameters().entrySet()) {
                float[] x = e.getValue().value().toFloatArray(), y = b.namedParameters().get(e.getKey()).value().toFloatArray();
                for (int i = 0; i < x.length; i++) assertEquals(x[i], y[i], 1e-6, e.getKey() + "[" + i + "]");
            }
        }
    }
}
