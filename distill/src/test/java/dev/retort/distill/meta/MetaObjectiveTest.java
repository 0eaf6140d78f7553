package dev.retort.distill.meta;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.data.Example;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.MetricsLog;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.StepLoss;
import dev.retort.distill.train.Trainer;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.llama.LlamaModel;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Meta-distillation inside the shared trainer: what a step does to the student and the teacher, and resuming. */
class MetaObjectiveTest {
    private static final KdConfig KD = new KdConfig(Divergence.FKL, 2, 0.6, 0, 0);
    private static final PackedData DATA = randomData(new SplittableRandom(3), 40, 12);
    private static final PackedData QUIZ = randomData(new SplittableRandom(4), 8, 12);

    static PackedData randomData(SplittableRandom random, int rows, int seq) {
        List<Example> examples = new ArrayList<>();
        int[] tokens = new int[rows * seq + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = random.nextInt(MetaFixtures.VOCAB);
        examples.add(Example.plain(tokens));
        return PackedData.pack(examples, seq, 0);
    }

    static TrainingConfig config(Path out, long steps, int checkpointEvery) {
        return new TrainingConfig(steps, 0, 4, 1, 3e-3, 3e-4, 0, 0.0, 1.0, 9, 0, 1, checkpointEvery, out, false);
    }

    /** Teacher with 2 layers of width 24; student with 1 layer of width 16. */
    record Setup(LlamaModel student, LlamaModel teacher, MetaTeacher meta, MetaObjective objective) {}

    static Setup setup(Arena arena, String update, long studentSeed, long teacherSeed, double pilotLr, Path log) {
        return setup(arena, update, studentSeed, teacherSeed, teacherSeed, pilotLr, log);
    }

    static Setup setup(Arena arena, String update, long studentSeed, long teacherSeed, long loraSeed, double pilotLr, Path log) {
        LlamaModel student = LlamaModel.random(MetaFixtures.config(16, 1), arena, studentSeed);
        LlamaModel teacher = LlamaModel.random(MetaFixtures.config(24, 2), arena, teacherSeed);
        MetaTeacher meta = update.equals("full") ? MetaTeacher.full(teacher, 1e-2) : MetaTeacher.lora(teacher, 2, 4, loraSeed, 1e-2);
        List<Parameter> trainable = student.trainableParameters();
        MetaObjective objective = new MetaObjective(student, trainable, wd -> List.of(ParamGroup.of(trainable, wd)), meta, KD,
                QUIZ, 4, 9, pilotLr, 1e-2, log == null ? null : new MetricsLog(log));
        return new Setup(student, teacher, meta, objective);
    }

    static Map<String, float[]> snapshot(Map<String, Parameter> params) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : params.entrySet()) out.put(e.getKey(), e.getValue().value().toFloatArray());
        return out;
    }

    static void assertSame(Map<String, float[]> expected, Map<String, float[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what + ": parameter names");
        for (String name : expected.keySet()) assertArrayEquals(expected.get(name), actual.get(name), what + ": " + name);
    }

    static boolean differ(float[] a, float[] b) {
        return !java.util.Arrays.equals(a, b);
    }

    @Test
    void aMetaStepLeavesTheStudentWhereAKdStepWithTheUpdatedTeacherWould(@TempDir Path metaOut, @TempDir Path kdOut) {
        try (Arena arena = Arena.ofShared()) {
            Setup s = setup(arena, "lora", 1, 2, 0.5, null);
            Map<String, float[]> teacherBefore = snapshot(s.meta().lora().namedParameters());
            new Trainer(config(metaOut, 1, 0), s.objective(), s.student(), s.teacher(), DATA, DATA.rows(0, 0), "meta", null).run(false);
            assertTrue(differ(teacherBefore.values().stream().toList().getLast(),
                    s.meta().lora().namedParameters().values().stream().toList().getLast().value().toFloatArray()), "the teacher's LoRA moved");

            // the same student again, one plain KD step with the teacher as the meta step left it
            LlamaModel plain = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            List<Parameter> trainable = plain.trainableParameters();
            KdObjective kd = new KdObjective("kd", plain, s.teacher(), null, KD, trainable, wd -> List.of(ParamGroup.of(trainable, wd)),
                    null, 0, false, null);
            new Trainer(config(kdOut, 1, 0), kd, plain, s.teacher(), DATA, DATA.rows(0, 0), "kd", null).run(false);
            assertSame(snapshot(plain.namedParameters()), snapshot(s.student().namedParameters()), "student after meta step vs KD step");
        }
    }

    @Test
    void withZeroPilotRateTheTeacherStaysAndTheRunIsPlainKd(@TempDir Path metaOut, @TempDir Path kdOut) {
        try (Arena arena = Arena.ofShared()) {
            Setup s = setup(arena, "full", 1, 2, 0, null);
            Map<String, float[]> teacherBefore = snapshot(s.teacher().namedParameters());
            new Trainer(config(metaOut, 3, 0), s.objective(), s.student(), s.teacher(), DATA, DATA.rows(0, 0), "meta", null).run(false);
            assertSame(teacherBefore, snapshot(s.teacher().namedParameters()), "teacher after meta steps with λ = 0");

            LlamaModel plain = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            List<Parameter> trainable = plain.trainableParameters();
            KdObjective kd = new KdObjective("kd", plain, s.teacher(), null, KD, trainable, wd -> List.of(ParamGroup.of(trainable, wd)),
                    null, 0, false, null);
            new Trainer(config(kdOut, 3, 0), kd, plain, s.teacher(), DATA, DATA.rows(0, 0), "kd", null).run(false);
            assertSame(snapshot(plain.namedParameters()), snapshot(s.student().namedParameters()), "student after 3 steps, meta (λ = 0) vs KD");
        }
    }

    @Test
    void loraUpdateMovesOnlyTheAdaptersAndFullUpdateMovesTheBaseWeights(@TempDir Path loraOut, @TempDir Path fullOut) {
        try (Arena arena = Arena.ofShared()) {
            Setup lora = setup(arena, "lora", 1, 2, 0.5, null);
            Map<String, float[]> baseBefore = snapshot(lora.teacher().namedParameters());
            Map<String, float[]> adaptersBefore = snapshot(lora.meta().lora().namedParameters());
            new Trainer(config(loraOut, 2, 0), lora.objective(), lora.student(), lora.teacher(), DATA, DATA.rows(0, 0), "m", null).run(false);
            assertSame(baseBefore, snapshot(lora.teacher().namedParameters()), "lora update: the teacher's base weights");
            Map<String, float[]> adaptersAfter = snapshot(lora.meta().lora().namedParameters());
            for (String name : adaptersBefore.keySet()) {
                assertTrue(differ(adaptersBefore.get(name), adaptersAfter.get(name)), "lora update moved " + name);
            }

            Setup full = setup(arena, "full", 1, 2, 0.5, null);
            Map<String, float[]> fullBefore = snapshot(full.teacher().namedParameters());
            new Trainer(config(fullOut, 2, 0), full.objective(), full.student(), full.teacher(), DATA, DATA.rows(0, 0), "m", null).run(false);
            Map<String, float[]> fullAfter = snapshot(full.teacher().namedParameters());
            int moved = 0;
            for (String name : fullBefore.keySet()) if (differ(fullBefore.get(name), fullAfter.get(name))) moved++;
            assertEquals(fullBefore.size(), moved, "full update moved every teacher weight (" + moved + " of " + fullBefore.size() + ")");
        }
    }

    /** Dies, like a killed process, at a given step. */
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
    void resumeAfterACheckpointIsBitwiseIdentical(@TempDir Path straight, @TempDir Path interrupted) {
        for (String update : List.of("lora", "full")) {
            try (Arena arena = Arena.ofShared()) {
                Path a = straight.resolve(update), b = interrupted.resolve(update);
                Setup one = setup(arena, update, 1, 2, 0.5, a.resolve("meta.jsonl"));
                new Trainer(config(a, 5, 2), one.objective(), one.student(), one.teacher(), DATA, DATA.rows(0, 0), "fp", null).run(false);

                Setup two = setup(arena, update, 1, 2, 0.5, b.resolve("meta.jsonl"));
                assertThrows(IllegalStateException.class, () -> new Trainer(config(b, 5, 2), new Killing(two.objective(), 3),
                        two.student(), two.teacher(), DATA, DATA.rows(0, 0), "fp", null).run(false));
                // A fresh process: another random student and teacher LoRA, all restored from the step-2
                // checkpoint. The frozen base of a LoRA teacher is not in the checkpoint: it is loaded from the
                // same teacher directory, here the same seed; the full update restores every teacher weight.
                Setup three = setup(arena, update, 7, update.equals("full") ? 8 : 2, 99, 0.5, b.resolve("meta.jsonl"));
                new Trainer(config(b, 5, 2), three.objective(), three.student(), three.teacher(), DATA, DATA.rows(0, 0), "fp", null).run(true);

                assertEquals(withoutTiming(new MetricsLog(a.resolve("metrics.jsonl")).read()), withoutTiming(new MetricsLog(b.resolve("metrics.jsonl")).read()),
                        update + ": training losses of every step");
                assertEquals(new MetricsLog(a.resolve("meta.jsonl")).read(), new MetricsLog(b.resolve("meta.jsonl")).read(), update + ": meta log");
                assertSame(snapshot(one.student().namedParameters()), snapshot(three.student().namedParameters()), update + ": student");
                assertSame(snapshot(one.teacher().namedParameters()), snapshot(three.teacher().namedParameters()), update + ": teacher");
                if (update.equals("lora")) {
                    assertSame(snapshot(one.meta().lora().namedParameters()), snapshot(three.meta().lora().namedParameters()), "teacher LoRA");
                }
                assertEquals(one.meta().optimizer().stepCount(), three.meta().optimizer().stepCount(), update + ": teacher optimizer steps");
                for (Map.Entry<String, dev.retort.tensor.Tensor> e : one.meta().optimizer().state().entrySet()) {
                    assertArrayEquals(e.getValue().toFloatArray(), three.meta().optimizer().state().get(e.getKey()).toFloatArray(), update + " optimizer " + e.getKey());
                }
            }
        }
    }

    /** Rows without the wall-clock field, which differs between runs. */
    private static List<Map<String, Object>> withoutTiming(List<Map<String, Object>> rows) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Map<String, Object> row : rows) {
            Map<String, Object> copy = new LinkedHashMap<>(row);
            copy.remove("tokens_per_s");
            out.add(copy);
        }
        return out;
    }

    @Test
    void anEmptyQuizSplitIsRefused() {
        try (Arena arena = Arena.ofShared()) {
            LlamaModel student = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            LlamaModel teacher = LlamaModel.random(MetaFixtures.config(24, 2), arena, 2);
            MetaTeacher meta = MetaTeacher.lora(teacher, 2, 4, 0, 1e-2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new MetaObjective(student,
                    student.trainableParameters(), wd -> List.of(), meta, KD, DATA.rows(0, 0), 4, 0, 0.1, 1e-2, null));
            assertTrue(e.getMessage().contains("quiz split is empty"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
        }
    }
}
