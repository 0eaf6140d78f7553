package dev.retort.distill.meta;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.distill.data.Batch;
import dev.retort.distill.loss.DenseTeacher;
import dev.retort.distill.loss.DistillationLoss;
import dev.retort.distill.loss.KdConfig;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

/** Tiny models, random batches, and the meta-learning quantities written out directly from their definitions. */
final class MetaFixtures {
    static final int VOCAB = 23;

    private MetaFixtures() {}

    /** A tiny tied Llama: width {@code dim}, {@code layers} layers, 2 heads (1 KV head), vocabulary {@link #VOCAB}. */
    static LlamaConfig config(int dim, int layers) {
        return new LlamaConfig(dim, 2 * dim, layers, 2, 1, dim / 2, VOCAB, 32, 1e-5, 10000.0, null, true, 1, List.of(2), false, false, DType.F32);
    }

    /** batch × seq random tokens with next-token targets (the last position of each row ignored). */
    static Batch randomBatch(SplittableRandom random, int batch, int seq) {
        int[] tokens = new int[batch * seq];
        for (int i = 0; i < tokens.length; i++) tokens[i] = random.nextInt(VOCAB);
        return new Batch(tokens, LlamaModel.shiftedTargets(tokens, batch, seq), batch, seq, new int[batch]);
    }

    /** Random values of scale {@code range} in every element of {@code p} (e.g. to make LoRA's B non-zero). */
    static void randomise(Parameter p, SplittableRandom random, double range) {
        Tensor t = p.value();
        for (long i = 0; i < t.size(); i++) t.setFlat(i, (float) ((random.nextDouble() * 2 - 1) * range));
    }

    /**
     * The quiz loss after the pilot update, straight from the definition: θ' = θ − λ·∇θ L(x; θ, φ) with the
     * teacher as it is now, then the cross-entropy of the student at θ' on q. The student is restored.
     */
    static double quizLossAfterPilot(LlamaModel student, List<Parameter> theta, LlamaModel teacher, KdConfig kd,
                                     Batch x, Batch q, double lambda) {
        float[][] saved = new float[theta.size()][];
        for (int i = 0; i < theta.size(); i++) saved[i] = theta.get(i).value().toFloatArray();
        try (BufferPool pool = new BufferPool()) {
            for (Parameter p : theta) p.zeroGrad();
            try (Graph g = Graph.withGrad(pool); Graph tg = Graph.noGrad(pool)) {
                Var hs = student.hidden(g, x.inputs(), x.batch(), x.seq(), null);
                Var ht = teacher.hidden(tg, x.inputs(), x.batch(), x.seq(), null);
                DistillationLoss.linear(hs, student.lmHead(), DenseTeacher.of(ht, teacher.lmHead(), kd.topK()), x.targets(), kd,
                        0, 64).loss().backward();
            }
            for (Parameter p : theta) {
                float[] w = p.value().toFloatArray(), g = p.grad().toFloatArray();
                for (int i = 0; i < w.length; i++) w[i] -= (float) (lambda * g[i]);
                write(p, w);
                p.zeroGrad();
            }
            try (Graph g = Graph.noGrad(pool)) {
                return student.loss(g, q.inputs(), q.targets(), q.batch(), q.seq(), 0).item();
            }
        } finally {
            for (int i = 0; i < theta.size(); i++) write(theta.get(i), saved[i]);
        }
    }

    static void write(Parameter p, float[] values) {
        MemorySegment.copy(values, 0, p.value().segment(), ValueLayout.JAVA_FLOAT_UNALIGNED, p.value().byteOffset(), values.length);
    }

    static float[] concat(List<float[]> parts) {
        int n = 0;
        for (float[] p : parts) n += p.length;
        float[] all = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }
}
