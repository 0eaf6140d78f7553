package dev.retort.distill.bench;

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
 * 32000, seq 256, batch 8) and a teacher of the same width with twice the layers. Reports the median step time
 * over the timed steps (after two warm-up steps), the activation peak of the buffer pool, the bytes of trainable
 * parameters and optimizer state, and the process's peak resident memory (VmHWM) after each mode. Modes run in
 * the order given, in one process, so VmHWM only grows: run one mode per process to compare peaks.
 *
 * <pre>
 *   ./retort bench meta [--modes kd,meta-lora,meta-full] [--steps 3] [--threads N] [--teacher-layers 12]
 *        [--dim 288] [--layers 6] [--heads 6] [--hidden 768] [--vocab 32000] [--seq 256] [--batch 8]
 * </pre>
 */
public final class MetaBench {
    private MetaBench() {}

    /** The modes, as {@code --modes} takes them. */
    public static final List<String> MODES = List.of("kd", "meta-lora", "meta-full");

    /**
     * Runs each of {@code modes} for a student of shape {@code studentConfig} and a teacher of shape
     * {@code teacherConfig} on batch × seq random tokens, one line per mode on {@code out}.
     */
    public static void run(List<String> modes, LlamaConfig studentConfig, LlamaConfig teacherConfig, int batch, int seq,
                           int steps, PrintStream out) {
        for (String mode : modes) {
            if (!MODES.contains(mode)) throw new IllegalArgumentException("--modes takes kd, meta-lora and meta-full, got '" + mode + "'");
        }
        int vocab = studentConfig.vocabSize(), dim = studentConfig.hiddenSize(), heads = studentConfig.numAttentionHeads();
        int hidden = studentConfig.intermediateSize();
        SplittableRandom random = new SplittableRandom(0);
        int[] stream = new int[(batch * 4) * seq + 1];
        for (int i = 0; i < stream.length; i++) stream[i] = random.nextInt(vocab);
        PackedData data = PackedData.pack(List.of(Example.plain(stream)), seq, 0);
        PackedData[] split = data.split(0.25);
        KdConfig kd = new KdConfig(Divergence.FKL, 2, 0.5, 0, 0);
        out.printf(Locale.ROOT, "student dim=%d layers=%d heads=%d hidden=%d vocab=%d; teacher layers=%d; seq=%d batch=%d threads=%d%n",
                dim, studentConfig.numHiddenLayers(), heads, hidden, vocab, teacherConfig.numHiddenLayers(), seq, batch, ThreadPool.shared().threads());

        for (String mode : modes) {
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
                            meta = MetaTeacher.lora(teacher, 8, 16, 0, 1e-4);
                        } else {
                            meta = MetaTeacher.full(teacher, 1e-5);
                        }
                        objective = new MetaObjective(student, trainable, meta, kd, split[1], batch, 0, 1e-2, 1e-2, null);
                    }
                    default -> throw new IllegalArgumentException("mode must be kd, meta-lora or meta-full, got '" + mode + "'");
                }
                Objective stepObjective = objective;
                int[] step = {0};
                double median = Measure.medianStepSeconds(() -> {
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
                long studentBytes = bytes(trainable), studentOptim = 2 * studentBytes;
                long teacherTrainable = meta == null ? 0 : bytes(meta.parameters());
                long teacherFrozen = bytes(new ArrayList<>(teacher.namedParameters().values())) - (meta != null && meta.lora() == null ? teacherTrainable : 0);
                out.printf(Locale.ROOT, "%-9s step median %8.0f ms | activations peak %7.1f MB | student params+AdamW %7.1f MB | "
                                + "teacher weights %7.1f MB, teacher trainable φ %7.1f MB (+ AdamW %7.1f MB, + grads %7.1f MB) | VmHWM %s%n",
                        mode, median * 1e3, pool.peakBytesInUse() / 1e6, (studentBytes + studentOptim) / 1e6, teacherFrozen / 1e6,
                        teacherTrainable / 1e6, 2 * teacherTrainable / 1e6, teacherTrainable / 1e6, Measure.peakResidentMemory());
            }
        }
    }

    private static long bytes(List<Parameter> params) {
        long n = 0;
        for (Parameter p : params) n += p.value().size() * p.value().dtype().bytes;
        return n;
    }
}
