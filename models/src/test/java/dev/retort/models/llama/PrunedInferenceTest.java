package dev.retort.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.Shapes;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The KV-cache path with token pruning against the training forward ({@link LlamaModel#pruned}, hard top-k) on
 * stories260K: after a prompt of n tokens (n − 1 prunable), and after each decoded token (the training forward on
 * prompt + decoded tokens with the same n − 1 prunable), the last position's logits agree; the caches of the
 * pruned layers hold only the kept tokens.
 */
class PrunedInferenceTest {

    @ParameterizedTest
    @CsvSource({"learned, 2, 0.5, 5", "learned, 0, 0.3, 64", "attention, 3, 0.5, 7", "random, 4, 0.6, 64"})
    void cachePathMatchesTheTrainingForward(String mode, int layer, double keep, int chunk) {
        LlamaConfig config = LlamaConfig.read(TokenPruningTest.stories());
        int n = 21, decoded = 4;
        SplittableRandom random = new SplittableRandom(5);
        int[] all = new int[n + decoded];
        for (int i = 0; i < all.length; i++) all[i] = 3 + random.nextInt(500);
        all[0] = 1;
        try (ModelWeights weights = ModelWeights.open(TokenPruningTest.stories()); Arena arena = Arena.ofShared();
             BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(config, weights, arena, false);
            model.setPruning(new TokenPruning(new TokenPruning.Settings(layer, keep, 8, 0.1, TokenPruning.Mode.parse(mode), 9),
                    config.hiddenSize(), arena));
            int vocab = config.vocabSize();
            int prunedCapacity = LlamaInference.prunedRows(model, n, decoded);   // the pruned layers' caches: only what they keep
            assertEquals(TokenPruning.keepCount(keep, n - 1) + 1 + decoded, prunedCapacity);
            try (LlamaInference inference = new LlamaInference(model, 2, 64, chunk, prunedCapacity)) {
                long full = 2L * 64 * config.numHiddenLayers() * 2 * config.numKeyValueHeads() * config.headDim() * Float.BYTES;
                assertEquals(full - 2L * (64 - prunedCapacity) * (config.numHiddenLayers() - layer) * 2 * config.numKeyValueHeads()
                        * config.headDim() * Float.BYTES, inference.allocatedCacheBytes());
                inference.forward(1, Arrays.copyOf(all, 5));   // another sequence in the session changes nothing
                for (int j = 0; j <= decoded; j++) {
                    float[] cached = j == 0 ? inference.forward(0, Arrays.copyOf(all, n)).toFloatArray()
                            : inference.forward(0, new int[] {all[n + j - 1]}).toFloatArray();
                    int seq = n + j;
                    float[] reference;
                    try (Graph g = Graph.noGrad(pool)) {
                        LlamaModel.Pruned p = model.pruned(g, Arrays.copyOf(all, seq), new int[] {n - 1}, 1, seq, model.pruning().inferenceStep());
                        int s = p.layout().seq();
                        Var last = Shapes.reshape(Shapes.slice(p.hidden(), 1, s - 1, s), 1, config.hiddenSize());
                        reference = MatMul.linear(last, model.lmHead()).value().toFloatArray();
                        if (j == 0) {
                            assertEquals(TokenPruning.keepCount(keep, n - 1) + 1, s);
                        }
                    }
                    assertEquals(vocab, reference.length);
                    double max = 0;
                    for (float r : reference) max = Math.max(max, Math.abs(r));
                    for (int i = 0; i < vocab; i++) {
                        assertEquals(reference[i], cached[i], 1e-4 * max, mode + " token " + j + " logit " + i);
                    }
                }
                int kept = TokenPruning.keepCount(keep, n - 1) + 1;
                int layers = config.numHiddenLayers(), pos = n + decoded;
                assertEquals((long) pos * layer + (long) (kept + decoded) * (layers - layer), inference.cacheRows(0));
                long unpruned = (long) pos * layers * 2 * config.numKeyValueHeads() * config.headDim() * Float.BYTES;
                System.out.printf("prune %s at layer %d keep %.2f: KV cache %d of %d bytes (%.1f%% saved) after %d prompt + %d decoded tokens%n",
                        mode, layer, keep, inference.cacheBytes(0), unpruned, 100.0 * (unpruned - inference.cacheBytes(0)) / unpruned, n, decoded);
            }
            // a decode step beside another sequence is still bitwise the sequence alone
            float[] alone, batched;
            try (LlamaInference inference = new LlamaInference(model, 1, 64, chunk)) {
                inference.forward(0, Arrays.copyOf(all, n));
                alone = inference.forward(0, new int[] {all[n]}).toFloatArray();
            }
            try (LlamaInference inference = new LlamaInference(model, 2, 64, chunk)) {
                inference.forward(0, Arrays.copyOf(all, n));
                inference.forward(1, Arrays.copyOf(all, 7));
                inference.decode(new int[] {1, 0}, new int[] {all[7], all[n]});
                batched = inference.logits(0).toFloatArray();
            }
            assertArrayEquals(alone, batched);
        }
    }
}
