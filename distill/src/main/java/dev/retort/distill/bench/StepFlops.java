package dev.retort.distill.bench;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.lora.LoraConfig;

/**
 * FLOPs per token of the steps {@link TrainStepBench} times, counted from the model's shape the way model FLOP
 * utilisation (MFU) is usually counted: a matmul weight costs 2 FLOPs per token forward and 4 backward (the
 * gradients of its input and of itself, 2 each); causal attention costs 2·T·d per layer forward (QKᵀ and A·V, 2
 * FLOPs per multiply-add over T/2 earlier positions on average, d = heads · head size) and twice that backward.
 * Norms, softmax, SwiGLU, the loss and the optimizer are not counted. At the stories15M shape (dim 288, 6
 * layers, hidden 768, vocab 32000, T = 256, 15.19 M matmul weights with the head) the training step is
 * 6 · 15.19 M + 3 · 2 · 6 · 256 · 288 = 93.8 MFLOP per token.
 */
public final class StepFlops {
    private StepFlops() {}

    /** FLOPs per token of one step of {@code mode} (as {@link TrainStepBench#run} takes it), sequences of seq tokens. */
    public static double perToken(String mode, LlamaConfig student, int teacherLayers, LoraConfig lora, int seq) {
        double weights = matmulWeights(student), attention = attentionForward(student, seq);
        return switch (mode) {
            case "train" -> 3 * (2 * weights + attention);
            case "fwd" -> 2 * weights + attention;
            // the teacher's forward; the student's forward and backward through its frozen weights (input
            // gradients only); each adapter x·Aᵀ·Bᵀ of rank r as two matmuls of r·(in + out) weights, trained
            case "lora-kd" -> {
                LlamaConfig teacher = student.withLayers(teacherLayers);
                yield 2 * matmulWeights(teacher) + attentionForward(teacher, seq)
                        + 4 * weights + 3 * attention + 6 * adapterWeights(student, lora);
            }
            default -> throw new IllegalArgumentException("--mode must be train, fwd or lora-kd, got '" + mode + "'");
        };
    }

    /** Weights of every matmul a token passes through: the seven projections of each layer, and the LM head. */
    static double matmulWeights(LlamaConfig c) {
        double perLayer = 0;
        for (String module : LoraConfig.LLAMA_MODULES) {
            int[] inOut = inOut(c, module);
            perLayer += (double) inOut[0] * inOut[1];
        }
        return c.numHiddenLayers() * perLayer + (double) c.vocabSize() * c.hiddenSize();
    }

    /** LoRA's A [r x in] and B [out x r] over every adapted projection of every layer. */
    static double adapterWeights(LlamaConfig c, LoraConfig lora) {
        double perLayer = 0;
        for (String module : LoraConfig.LLAMA_MODULES) {
            if (!lora.targets(module)) continue;
            int[] inOut = inOut(c, module);
            perLayer += (double) lora.rank() * (inOut[0] + inOut[1]);
        }
        return c.numHiddenLayers() * perLayer;
    }

    /** Causal attention's forward, per token: 2·T·d per layer (see the class comment). */
    static double attentionForward(LlamaConfig c, int seq) {
        return 2.0 * c.numHiddenLayers() * seq * c.numAttentionHeads() * c.headDim();
    }

    /** {in, out} features of one of a layer's projections. */
    private static int[] inOut(LlamaConfig c, String module) {
        int d = c.hiddenSize(), q = c.numAttentionHeads() * c.headDim(), kv = c.numKeyValueHeads() * c.headDim();
        return switch (module) {
            case "q_proj" -> new int[] {d, q};
            case "k_proj", "v_proj" -> new int[] {d, kv};
            case "o_proj" -> new int[] {q, d};
            case "gate_proj", "up_proj" -> new int[] {d, c.intermediateSize()};
            case "down_proj" -> new int[] {c.intermediateSize(), d};
            default -> throw new IllegalArgumentException("unknown Llama projection " + module);
        };
    }
}
