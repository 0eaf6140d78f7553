package dev.retort.distill.meta;

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
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.Objective;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
 *   java -cp ... dev.retort.distill.meta.MetaBench [--modes kd,meta-lora,meta-full] [--steps 3] [--threads N]
 *        [--dim 288] [--layers 6] [--teacher-layers 12] [--heads 6] [--hidden 768] [--vocab 32000] [--seq 256] [--batch 8]
 * </pre>
 */
public final class MetaBench {
    private MetaBench() {}

    public static void main(String[] args) throws IOException {
        Map<String, String> o = new HashMap<>(Map.of("modes", "kd,meta-lora,meta-full", "steps", "3", "dim", "288", "layers", "6",
                "teacher-layers", "12", "heads", "6", "hidden", "768", "vocab", "32000", "seq", "256", "batch", "8"));
        for (int i = 0; i < args.length; i += 2) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("expected --name value pairs, got " + Arrays.toString(args));
            o.put(args[i].substring(2), args[i + 1]);
        }
        if (o.containsKey("threads")) ThreadPool.setSharedThreads(Integer.parseInt(o.get("threads")));
        int dim = Integer.parseInt(o.get("dim")), heads = Integer.parseInt(o.get("heads")), hidden = Integer.parseInt(o.get("hidden"));
        int vocab = Integer.parseInt(o.get("vocab")), seq = Integer.parseInt(o.get("seq")), batch = Integer.parseInt(o.get("batch"));
        int steps = Integer.parseInt(o.get("steps"));
        LlamaConfig studentConfig = config(dim, hidden, Integer.parseInt(o.get("layers")), heads, vocab, seq);
        LlamaConfig teacherConfig = config(dim, hidden, Integer.parseInt(o.get("teacher-layers")), heads, vocab, seq);

        SplittableRandom random = new SplittableRandom(0);
        int[] stream = new int[(batch * 4) * seq + 1];
        for (int i = 0; i < stream.length; i++) stream[i] = random.nextInt(vocab);
        PackedData data = PackedData.pack(List.of(Example.plain(stream)), seq, 0);
        PackedData[] split = data.split(0.25);
        KdConfig kd = new KdConfig(Divergence.FKL, 2, 0.5, 0, 0);
        System.out.printf(Locale.ROOT, "student dim=%d layers=%d heads=%d hidden=%d vocab=%d; teacher layers=%d; seq=%d batch=%d threads=%d%n",
                dim, studentConfig.numHiddenLayers(), heads, hidden, vocab, teacherConfig.numHiddenLayers(), seq, batch, ThreadPool.shared().threads());

        for (String mode : o.get("modes").split(",")) {
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
                double[] times = new double[steps + 2];
                for (int s = 0; s < times.length; s++) {
                    int[] rows = new int[batch];
                    for (int i = 0; i < batch; i++) rows[i] = (s * batch + i) % split[0].rows();
                    Batch b = Batch.of(split[0], rows);
                    long t0 = System.nanoTime();
                    optimizer.zeroGrad();
                    try (Graph g = Graph.withGrad(pool)) {
                        objective.loss(g, b, b.targetCount(), s).loss().backward();
                    }
                    optimizer.step();
                    times[s] = (System.nanoTime() - t0) / 1e9;
                }
                double[] timed = Arrays.copyOfRange(times, 2, times.length);
                Arrays.sort(timed);
                double median = timed.length % 2 == 1 ? timed[timed.length / 2] : 0.5 * (timed[timed.length / 2 - 1] + timed[timed.length / 2]);
                long studentBytes = bytes(trainable), studentOptim = 2 * studentBytes;
                long teacherTrainable = meta == null ? 0 : bytes(meta.parameters());
                long teacherFrozen = bytes(new ArrayList<>(teacher.namedParameters().values())) - (meta != null && meta.lora() == null ? teacherTrainable : 0);
                System.out.printf(Locale.ROOT, "%-9s step median %8.0f ms | activations peak %7.1f MB | student params+AdamW %7.1f MB | "
                                + "teacher weights %7.1f MB, teacher trainable φ %7.1f MB (+ AdamW %7.1f MB, + grads %7.1f MB) | VmHWM %s%n",
                        mode, median * 1e3, pool.peakBytesInUse() / 1e6, (studentBytes + studentOptim) / 1e6, teacherFrozen / 1e6,
                        teacherTrainable / 1e6, 2 * teacherTrainable / 1e6, teacherTrainable / 1e6, vmHwm());
            }
        }
    }

    private static LlamaConfig config(int dim, int hidden, int layers, int heads, int vocab, int seq) {
        return new LlamaConfig(dim, hidden, layers, heads, heads, dim / heads, vocab, seq, 1e-5, 10000.0, null, true,
                1, List.of(2), false, false, DType.F32);
    }

    private static long bytes(List<Parameter> params) {
        long n = 0;
        for (Parameter p : params) n += p.value().size() * p.value().dtype().bytes;
        return n;
    }

    /** Peak resident set size of this process, from /proc/self/status (Linux), or "n/a". */
    static String vmHwm() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return line.substring(6).trim();
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return "n/a";
    }
}
