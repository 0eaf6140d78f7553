package dev.retort.models.llama;

import dev.retort.autograd.nn.Linear;
import dev.retort.autograd.nn.RmsNormLayer;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;

/**
 * Where a model's parameters come from: a checkpoint, or random initialisation. A trainable model gets F32
 * copies it can update; a frozen one reads the checkpoint's tensors in place (BF16/F16 stay BF16/F16), except
 * the small norm weights, which are widened to F32 (a few KB) because the RMSNorm kernel reads F32.
 */
abstract class WeightSource {
    final Arena arena;
    final boolean trainable;

    WeightSource(Arena arena, boolean trainable) {
        this.arena = arena;
        this.trainable = trainable;
    }

    abstract Tensor tensor(String name, int... shape);

    Linear linear(String name, boolean bias) {
        return new Linear(name, weight(name + ".weight"), bias ? f32(tensor(name + ".bias")) : null, trainable);
    }

    RmsNormLayer norm(String name, LlamaConfig config) {
        return new RmsNormLayer(name, f32(tensor(name + ".weight")), (float) config.rmsNormEps(), trainable);
    }

    /** A matrix parameter: F32 copy when training, the stored tensor as-is when frozen. */
    Tensor weight(String name) {
        Tensor t = tensor(name);
        return trainable ? f32(t) : t;
    }

    /** An F32 tensor owned by this model (a copy unless it already is one we own). */
    Tensor f32(Tensor t) {
        Tensor copy = Tensor.zeros(arena, DType.F32, t.shape());
        t.copyInto(copy);
        return copy;
    }

    /** Tensors from a checkpoint, checked against the shapes the config implies. */
    static WeightSource checkpoint(ModelWeights weights, LlamaConfig config, Arena arena, boolean trainable) {
        return new WeightSource(arena, trainable) {
            @Override
            Tensor tensor(String name, int... ignored) {
                Tensor t = weights.tensor(name);
                int[] expected = LlamaShapes.shapeOf(config, name);
                if (!java.util.Arrays.equals(t.shape(), expected)) {
                    throw new IllegalArgumentException("tensor '" + name + "' has shape " + java.util.Arrays.toString(t.shape())
                            + " but config.json implies " + java.util.Arrays.toString(expected));
                }
                return t;
            }
        };
    }

    /**
     * Random weights (benchmarks, tests): matrices ~ N(0, 0.02²) like HF's initializer_range, norms at 1.
     * Shapes come from the config.
     */
    static WeightSource random(LlamaConfig config, Arena arena, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        return new WeightSource(arena, true) {
            @Override
            Tensor tensor(String name, int... ignored) {
                int[] shape = LlamaShapes.shapeOf(config, name);
                Tensor t = Tensor.zeros(arena, DType.F32, shape);
                if (name.endsWith("norm.weight")) return t.fill(1f);
                float[] v = new float[(int) t.size()];
                for (int i = 0; i < v.length; i++) v[i] = (float) (random.nextGaussian() * 0.02);
                java.lang.foreign.MemorySegment.copy(v, 0, t.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 0, v.length);
                return t;
            }

            @Override
            Tensor f32(Tensor t) {
                return t;  // already a fresh F32 tensor of ours
            }
        };
    }
}
