package dev.retort.distill.meta;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.data.Example;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.options.OutputOptions;
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

    static TrainingConfig config(long steps, int checkpointEvery) {
        return new TrainingConfig(steps, 0, 4, 1, 3e-3, 3e-4, 0, 0.0, 1.0, "adamw", 9, 0, 1, checkpointEvery);
    }

    /** A single-phase run of {@code objective} training every weight of {@code student} on DATA. */
    static Trainer trainer(Path out, long steps, int checkpointEvery, Objective objective, LlamaModel student, LlamaModel teacher,
                           String fingerprint) {
        TrainingConfig config = config(steps, checkpointEvery);
        Phase phase = Phase.standard("meta", objective, student.trainableParameters(), config, DATA);
        return new Trainer(config, Plan.of(phase, null), student, teacher, DATA.rows(0, 0), fingerprint, new OutputOptions(out, false, false));
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
        MetaObjective objective = new MetaObjective(student, trainable, meta, KD,
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
            trainer(metaOut, 1, 0, s.objective(), s.student(), s.teacher(), "meta").run(false);
            assertTrue(differ(teacherBefore.values().stream().toList().getLast(),
                    s.meta().lora().namedParameters().values().stream().toList().getLast().value().toFloatArray()), "the teacher's LoRA moved");

            // the same student again, one plain KD step with the teacher as the meta step left it
            LlamaModel plain = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            KdObjective kd = KdObjective.live(plain, s.teacher(), KD);
            trainer(kdOut, 1, 0, kd, plain, s.teacher(), "kd").run(false);
            assertSame(snapshot(plain.namedParameters()), snapshot(s.student().namedParameters()), "student after meta step vs KD step");
        }
    }

    @Test
    void withZeroPilotRateTheTeacherStaysAndTheRunIsPlainKd(@TempDir Path metaOut, @TempDir Path kdOut) {
        try (Arena arena = Arena.ofShared()) {
            Setup s = setup(arena, "full", 1, 2, 0, null);
            Map<String, float[]> teacherBefore = snapshot(s.teacher().namedParameters());
            trainer(metaOut, 3, 0, s.objective(), s.student(), s.teacher(), "meta").run(false);
            assertSame(teacherBefore, snapshot(s.teacher().namedParameters()), "teacher after meta steps with λ = 0");

            LlamaModel plain = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            KdObjective kd = KdObjective.live(plain, s.teacher(), KD);
            trainer(kdOut, 3, 0, kd, plain, s.teacher(), "kd").run(false);
            assertSame(snapshot(plain.namedParameters()), snapshot(s.student().namedParameters()), "student after 3 steps, meta (λ = 0) vs KD");
        }
    }

    @Test
    void loraUpdateMovesOnlyTheAdaptersAndFullUpdateMovesTheBaseWeights(@TempDir Path loraOut, @TempDir Path fullOut) {
        try (Arena arena = Arena.ofShared()) {
            Setup lora = setup(arena, "lora", 1, 2, 0.5, null);
            Map<String, float[]> baseBefore = snapshot(lora.teacher().namedParameters());
            Map<String, float[]> adaptersBefore = snapshot(lora.meta().lora().namedParameters());
            trainer(loraOut, 2, 0, lora.objective(), lora.student(), lora.teacher(), "m").run(false);
            assertSame(baseBefore, snapshot(lora.teacher().namedParameters()), "lora update: the teacher's base weights");
            Map<String, float[]> adaptersAfter = snapshot(lora.meta().lora().namedParameters());
            for (String name : adaptersBefore.keySet()) {
                assertTrue(differ(adaptersBefore.get(name), adaptersAfter.get(name)), "lora update moved " + name);
            }

            Setup full = setup(arena, "full", 1, 2, 0.5, null);
            Map<String, float[]> fullBefore = snapshot(full.teacher().namedParameters());
            trainer(fullOut, 2, 0, full.objective(), full.student(), full.teacher(), "m").run(false);
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
        public List<Parameter> state() { return inner.state(); }
    }

    @Test
    void resumeAfterACheckpointIsBitwiseIdentical(@TempDir Path straight, @TempDir Path interrupted) {
        for (String update : List.of("lora", "full")) {
            try (Arena arena = Arena.ofShared()) {
                Path a = straight.resolve(update), b = interrupted.resolve(update);
                Setup one = setup(arena, update, 1, 2, 0.5, a.resolve("meta.jsonl"));
                trainer(a, 5, 2, one.objective(), one.student(), one.teacher(), "fp").run(false);

                Setup two = setup(arena, update, 1, 2, 0.5, b.resolve("meta.jsonl"));
                assertThrows(IllegalStateException.class, () -> trainer(b, 5, 2, new Killing(two.objective(), 3),
                        two.student(), two.teacher(), "fp").run(false));
                // A fresh process: another random student and teacher LoRA, all restored from the step-2
                // checkpoint. The frozen base of a LoRA teacher is not in the checkpoint: it is loaded from the
                // same teacher directory, here the same seed; the full update restores every teacher weight.
                Setup three = setup(arena, update, 7, update.equals("full") ? 8 : 2, 99, 0.5, b.resolve("meta.jsonl"));
                trainer(b, 5, 2, three.objective(), three.student(), three.teacher(), "fp").run(true);

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
            if (row.containsKey("wall_s")) continue;   // the resources line: this process's time and memory
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
                    student.trainableParameters(), meta, KD, DATA.rows(0, 0), 4, 0, 0.1, 1e-2, null));
            assertTrue(e.getMessage().contains("quiz split is empty"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
        }
    }
}
