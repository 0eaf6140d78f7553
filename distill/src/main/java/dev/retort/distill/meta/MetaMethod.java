package dev.retort.distill.meta;

import dev.retort.distill.OutputDirectory;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.method.Method;
import dev.retort.distill.method.Plan;
import dev.retort.distill.method.Workspace;
import dev.retort.distill.options.DistillOptions;
import dev.retort.distill.train.MetricsLog;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code meta}: meta-distillation (MetaDistil, Zhou et al. 2022) with the teacher's meta-update on LoRA adapters
 * (Cantini et al. 2025) or on all its weights; see {@link MetaObjective} for one step. Every student weight
 * trains on the KD loss; a quiz split of the training rows (or --quiz-data) teaches the teacher. After training
 * the teacher's adapter (or the whole updated teacher) is written beside the student.
 */
public final class MetaMethod implements Method {
    @Override
    public String name() {
        return "meta";
    }

    @Override
    public void check(DistillOptions o) {
        if (o.lora().adapted()) {
            throw new IllegalArgumentException(o.lora().adaptedFlag() + " goes with --method neo (or sft); meta trains every student parameter");
        }
        if (o.models().teacherCache() != null) throw new IllegalArgumentException("--method meta updates the teacher, so it cannot read it from --teacher-cache");
        if (o.features().layers() != null) throw new IllegalArgumentException("--method meta does not support --feature-layers");
        if (o.training().gradAccum() != 1) {
            throw new IllegalArgumentException("--method meta needs --grad-accum 1 (the teacher changes after every batch), got " + o.training().gradAccum());
        }
    }

    @Override
    public boolean trainsStudentWeights(DistillOptions options) {
        return true;
    }

    @Override
    public boolean trainsTeacherWeights(DistillOptions options) {
        return options.meta().full();   // the full meta-update trains F32 copies of every teacher weight
    }

    @Override
    public Plan plan(Workspace run) throws IOException {
        DistillOptions o = run.options();
        MetaOptions m = o.meta();
        PackedData train = run.train(), quiz;
        if (m.quizData() != null) {
            quiz = run.pack(m.quizData());
        } else {
            PackedData[] split = train.split(m.quizFraction());
            train = split[0];
            quiz = split[1];
        }
        if (quiz.rows() == 0) {
            throw new IllegalArgumentException((m.quizData() != null ? m.quizData() + ": too little text for"
                    : "--quiz-fraction " + m.quizFraction() + " of the training rows leaves no") + " quiz sequence of "
                    + o.data().seqLen() + " tokens");
        }
        long seed = o.training().seed();
        MetaTeacher teacher = m.full() ? MetaTeacher.full(run.teacher(), m.teacherLr())
                : MetaTeacher.lora(run.teacher(), m.teacherLoraRank(), m.teacherLoraAlpha(), seed, m.teacherLr());
        List<Parameter> weights = run.student().trainableParameters();
        MetaObjective objective = new MetaObjective(run.student(), weights, teacher, o.kd(), quiz, o.training().batchSize(),
                seed, m.pilotLr(), m.fdStep(), new MetricsLog(o.output().out().resolve("meta.jsonl")));
        Path teacherDir = o.models().teacher();
        return Plan.of(run.phase(name(), objective, weights, run.groups(weights), train), null).withOutput(out -> {
            if (teacher.lora() != null) {
                PeftAdapter.save(OutputDirectory.fresh(out.resolve("teacher-adapter")), teacher.lora(), teacherDir.toAbsolutePath().toString());
            } else {
                ModelExporter.save(run.teacher(), null, teacherDir, OutputDirectory.fresh(out.resolve("teacher")), DType.F32);
            }
        });
    }
}
