package dev.retort.distill.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.Example;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.meta.MetaObjective;
import dev.retort.distill.meta.MetaTeacher;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.Objective;
import dev.retort.distill.train.ResourceUse;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.ThreadPool;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Times one training step of plain KD and of meta-distillation with a LoRA and a full teacher update, on random
 * models and tokens. Default shapes: a stories15M-shaped student (dim 288, 6 layers, 6 heads, MLP 768, vocabulary
 * 32000, seq 256, batch 8) and a teacher of the same width with twice the layers (the teacher's width can differ:
 * KD only needs the vocabulary shared). Reports the median step time over the timed steps (after two warm-up
 * steps), the activation peak of the buffer pool, the bytes of trainable parameters and optimizer state, the
 * process's peak resident memory (VmHWM) after each mode, and CPU time and energy per timed step ({@link ResourceUse}). Modes run in the order given, in one process, so VmHWM only grows: run one
 * mode per process to compare peaks ({@code experiment/MetaCostExperiment} does).
 *
 * <pre>
 *   ./retort bench meta [--modes kd,meta-lora,meta-full] [--steps 3] [--threads N] [--json] [--teacher-layers 12]
 *        [--teacher-dim D --teacher-heads H --teacher-kv-heads K --teacher-hidden M]
 *        [--dim 288] [--layers 6] [--heads 6] [--hidden 768] [--vocab 32000] [--seq 256] [--batch 8]
 * </pre>
 */
public final class MetaBench {
    private MetaBench() {}

    /** The modes, as {@code --modes} takes them. */
    public static final List<String> MODES = List.of("kd", "meta-lora", "meta-full");

    /** Rank and alpha of the teacher's LoRA in the meta-lora mode (the command line's defaults). */
    public static final int TEACHER_LORA_RANK = 8;

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What one mode measured.
     *
     * @param teacherTrainableBytes φ: the teacher parameters the meta-update trains (0 for kd)
     * @param teacherStateBytes     φ + its AdamW moments + its gradients (4 φ)
     * @param peakRssBytes          the process's VmHWM after the mode (-1 off Linux)
     * @param stepsRun              the timed steps
     * @param resources             wall, CPU and energy of the timed steps
     */
    public record Measurement(String mode, long studentParams, long teacherParams, double secondsPerStep, long activationPeakBytes,
                              long studentStateBytes, long teacherWeightBytes, long teacherTrainableBytes, long teacherStateBytes,
                              long peakRssBytes, int stepsRun, ResourceUse resources) {
        /** Energy per timed step (joules). */
        public double joulesPerStep() {
            return resources.energyJoules() / stepsRun;
        }

        /** CPU-seconds per timed step. */
        public double cpuSecondsPerStep() {
            return resources.cpuSeconds() / stepsRun;
        }

        /** The human line {@code retort bench meta} prints. */
        public String line() {
            return String.format(Locale.ROOT, "%-9s step median %8.0f ms | activations peak %7.1f MB | student params+AdamW %7.1f MB | "
                            + "teacher weights %7.1f MB, teacher trainable φ %7.1f MB (+ AdamW %7.1f MB, + grads %7.1f MB) | VmHWM %s | "
                            + "%.2f CPU-s, %.1f J per step (%s)",
                    mode, secondsPerStep * 1e3, activationPeakBytes / 1e6, studentStateBytes / 1e6, teacherWeightBytes / 1e6,
                    teacherTrainableBytes / 1e6, 2 * teacherTrainableBytes / 1e6, teacherTrainableBytes / 1e6,
                    peakRssBytes < 0 ? "unknown" : String.format(Locale.ROOT, "%.0f MB", peakRssBytes / 1024.0 / 1024.0),
                    cpuSecondsPerStep(), joulesPerStep(), resources.energySource());
        }

        /** One JSON object (for {@code --json}, which the meta-cost experiment reads back from a child process). */
        public ObjectNode json() {
            ObjectNode o = JSON.createObjectNode().put("mode", mode).put("student_params", studentParams).put("teacher_params", teacherParams)
                    .put("ms_per_step", secondsPerStep * 1e3).put("activation_peak_bytes", activationPeakBytes)
                    .put("student_state_bytes", studentStateBytes).put("teacher_weight_bytes", teacherWeightBytes)
                    .put("teacher_trainable_bytes", teacherTrainableBytes).put("teacher_state_bytes", teacherStateBytes)
                    .put("peak_rss_bytes", peakRssBytes).put("steps_run", stepsRun).put("wall_s", resources.wallSeconds())
                    .put("cpu_s", resources.cpuSeconds()).put("energy_j", resources.energyJoules()).put("energy_source", resources.energySource());
            return o;
        }

        /** The measurement {@link #json()} wrote. */
        public static Measurement fromJson(String line) {
            try {
                var o = JSON.readTree(line);
                ResourceUse r = new ResourceUse(o.get("wall_s").asDouble(), o.get("cpu_s").asDouble(), o.get("peak_rss_bytes").asLong(),
                        o.get("energy_j").asDouble(), o.get("energy_source").asText());
                return new Measurement(o.get("mode").asText(), o.get("student_params").asLong(), o.get("teacher_params").asLong(),
                        o.get("ms_per_step").asDouble() / 1e3, o.get("activation_peak_bytes").asLong(), o.get("student_state_bytes").asLong(),
                        o.get("teacher_weight_bytes").asLong(), o.get("teacher_trainable_bytes").asLong(), o.get("teacher_state_bytes").asLong(),
                        o.get("peak_rss_bytes").asLong(), o.get("steps_run").asInt(), r);
            } catch (java.io.IOException | RuntimeException e) {
                throw new IllegalArgumentException("bench meta: not a measurement line: " + line);
            }
        }
    }

    /**
     * Runs each of {@code modes} for a student of shape {@code studentConfig} and a teacher of shape
     * {@code teacherConfig} on batch × seq random tokens: a header, then one line per mode on {@code out} (one
     * JSON object per mode and no header when {@code json}).
     */
    public static void run(List<String> modes, LlamaConfig studentConfig, LlamaConfig teacherConfig, int batch, int seq,
                           int steps, boolean json, PrintStream out) {
        for (String mode : modes) {
            if (!MODES.contains(mode)) throw new IllegalArgumentException("--modes takes kd, meta-lora and meta-full, got '" + mode + "'");
        }
        if (studentConfig.vocabSize() != teacherConfig.vocabSize()) {
            throw new IllegalArgumentException("bench meta: the student and the teacher must share the vocabulary");
        }
        if (!json) {
            out.printf(Locale.ROOT, "student dim=%d layers=%d heads=%d hidden=%d vocab=%d; teacher dim=%d layers=%d heads=%d hidden=%d; "
                            + "seq=%d batch=%d threads=%d%n", studentConfig.hiddenSize(), studentConfig.numHiddenLayers(),
                    studentConfig.numAttentionHeads(), studentConfig.intermediateSize(), studentConfig.vocabSize(), teacherConfig.hiddenSize(),
                    teacherConfig.numHiddenLayers(), teacherConfig.numAttentionHeads(), teacherConfig.intermediateSize(), seq, batch,
                    ThreadPool.shared().threads());
        }
        for (String mode : modes) {
            Measurement m = measure(mode, studentConfig, teacherConfig, batch, seq, steps);
            out.println(json ? m.json().toString() : m.line());
        }
    }

    /** One mode: builds the models, runs two warm-up and {@code steps} timed steps, and measures them. */
    public static Measurement measure(String mode, LlamaConfig studentConfig, LlamaConfig teacherConfig, int batch, int seq, int steps) {
        SplittableRandom random = new SplittableRandom(0);
        int[] stream = new int[(batch * 4) * seq + 1];
        for (int i = 0; i < stream.length; i++) stream[i] = random.nextInt(studentConfig.vocabSize());
        PackedData data = PackedData.pack(List.of(Example.plain(stream)), seq, 0);
        PackedData[] split = data.split(0.25);
        KdConfig kd = new KdConfig(Divergence.FKL, 2, 0.5, 0, 0);
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel student = LlamaModel.random(studentConfig, arena, 1);
            LlamaModel teacher = LlamaModel.random(teacherConfig, arena, 2);
            List<Parameter> trainable = student.trainableParameters();
            AdamW optimizer = new AdamW(List.of(ParamGroup.of(trainable, 0)), 1e-4);
            Objective objective;
            MetaTeacher meta = null;
            switch (mode) {
                case "kd" -> {
                    teacher.freeze();
                    objective = KdObjective.live(student, teacher, kd);
                }
                case "meta-lora", "meta-full" -> {
                    if (mode.equals("meta-lora")) {
                        teacher.freeze();
                        meta = MetaTeacher.lora(teacher, TEACHER_LORA_RANK, 2 * TEACHER_LORA_RANK, 0, 1e-4);
                    } else {
                        meta = MetaTeacher.full(teacher, 1e-5);
                    }
                    objective = new MetaObjective(student, trainable, meta, kd, split[1], batch, 0, 1e-2, 1e-2, null);
                }
                default -> throw new IllegalArgumentException("mode must be kd, meta-lora or meta-full, got '" + mode + "'");
            }
            Objective stepObjective = objective;
            int[] step = {0};
            Measure.Steps timed = Measure.timedSteps(() -> {
                int s = step[0]++;
                int[] rows = new int[batch];
                for (int i = 0; i < batch; i++) rows[i] = (s * batch + i) % split[0].rows();
                Batch b = Batch.of(split[0], rows);
                optimizer.zeroGrad();
                try (Graph g = Graph.withGrad(pool)) {
                    stepObjective.loss(g, b, b.targetCount(), s).loss().backward();
                }
                optimizer.step();
            }, steps);
            long studentBytes = bytes(trainable);
            long teacherAll = bytes(new ArrayList<>(teacher.namedParameters().values()));
            long teacherTrainable = meta == null ? 0 : bytes(meta.parameters());
            long teacherFrozen = teacherAll - (meta != null && meta.lora() == null ? teacherTrainable : 0);
            return new Measurement(mode, count(student), count(teacher), timed.medianSeconds(), pool.peakBytesInUse(), 3 * studentBytes,
                    teacherFrozen, teacherTrainable, 4 * teacherTrainable, ResourceUse.peakRss(), timed.timed(), timed.resources());
        }
    }

    /** Parameters of a model (its LoRA adapters, if any, not counted). */
    public static long count(LlamaModel model) {
        long n = 0;
        for (var t : model.namedParameters().values()) n += t.value().size();
        return n;
    }

    private static long bytes(List<Parameter> params) {
        long n = 0;
        for (Parameter p : params) n += p.value().size() * p.value().dtype().bytes;
        return n;
    }
}
