package dev.retort.distill.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.distill.data.Batch;
import dev.retort.distill.data.BatchSource;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.distill.train.KdObjective;
import dev.retort.distill.train.StepLoss;
import dev.retort.models.Sampling;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LayerSelection;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GKD on stories260K (teacher) and a layer-dropped student: the student's own samples become rows whose only
 * targets are the sampled response; λ decides who answers; and the loss on those samples equals JSD(β)
 * computed directly in double from both models' logits, β = 0 (forward KL), 0.5 and 1 (reverse KL) included.
 */
class GkdTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final int SEQ = 40, BATCH = 3;

    @TempDir
    Path tmp;

    /** The loaded pair and the per-example rows of a small prompt/response file. */
    private record Fixture(Arena arena, ModelWeights weights, LlamaModel teacher, LlamaModel student, Tokenizer tokenizer,
                           PackedData rows) implements AutoCloseable {
        @Override
        public void close() {
            weights.close();
            arena.close();
        }
    }

    private Fixture fixture() throws Exception {
        Assumptions.assumeTrue(Files.isRegularFile(STORIES.resolve("model.safetensors")),
                "shared test assets not found at " + STORIES.toAbsolutePath().normalize() + "; skipping");
        Path data = tmp.resolve("data.jsonl");
        Files.writeString(data, """
                {"prompt": "Once upon a time", "response": ", there was a girl."}
                {"prompt": "Lily went to the park and", "response": " saw a dog."}
                {"prompt": "The cat", "response": " was happy."}
                {"prompt": "Tom had a red ball. He", "response": " threw it."}
                """);
        Arena arena = Arena.ofShared();
        ModelWeights weights = ModelWeights.open(STORIES);
        LlamaConfig config = LlamaConfig.read(STORIES);
        int[] keep = {0, 2, 4};
        LlamaModel teacher = LlamaModel.load(config, weights, arena, false);
        LlamaModel student = LlamaModel.load(LayerSelection.config(config, keep), LayerSelection.weights(weights, keep), arena, true);
        Tokenizer tokenizer = Tokenizers.load(STORIES);
        PackedData rows = PackedData.perExample(CorpusReader.read(data, tokenizer), SEQ, tokenizer.eosId());
        return new Fixture(arena, weights, teacher, student, tokenizer, rows);
    }

    private static GeneratedBatches batches(Fixture f, double lambda, boolean seqKd) {
        return new GeneratedBatches(BatchSource.of(f.rows(), BATCH, 5), f.rows(), f.student(), seqKd ? f.teacher() : null,
                f.tokenizer().eosId(), lambda, new Sampling(16, 1f, 0, 1, 9), Math.max(0, f.tokenizer().eosId()));
    }

    @Test
    void lambdaDecidesWhoAnswersAndOnlyTheResponseIsTrainedOn() throws Exception {
        try (Fixture f = fixture()) {
            GeneratedBatches onPolicy = batches(f, 1, false), offPolicy = batches(f, 0, false), teacherWritten = batches(f, 0, true);
            for (long i = 0; i < 6; i++) {
                assertEquals("student", onPolicy.batch(i).source());
                assertEquals("data", offPolicy.batch(i).source());
                assertEquals("teacher", teacherWritten.batch(i).source());
            }
            assertEquals(6, onPolicy.counts()[0], "λ = 1: every micro-batch answered by the student");
            assertEquals(0, onPolicy.counts()[1]);
            assertEquals(0, offPolicy.counts()[0], "λ = 0: none");
            // λ = 0 is exactly the dataset's rows
            Batch data = BatchSource.of(f.rows(), BATCH, 5).batch(2);
            assertEquals(java.util.Arrays.toString(data.targets()), java.util.Arrays.toString(offPolicy.batch(2).targets()));
            // a generated row: the prompt as in the data, targets only on the response
            Batch generated = onPolicy.batch(3);
            assertEquals(java.util.Arrays.toString(generated.rows()), java.util.Arrays.toString(BatchSource.of(f.rows(), BATCH, 5).batch(3).rows()));
            for (int b = 0; b < BATCH; b++) {
                int prompt = f.rows().promptLength(generated.rows()[b]);
                for (int t = 0; t < prompt; t++) {
                    assertEquals(f.rows().inputs(generated.rows()[b])[t], generated.inputs()[b * SEQ + t], "prompt token " + t);
                    if (t < prompt - 1) assertEquals(CrossEntropy.IGNORE_INDEX, generated.targets()[b * SEQ + t], "no target inside the prompt");
                }
                assertTrue(generated.targets()[b * SEQ + prompt - 1] != CrossEntropy.IGNORE_INDEX, "the response's first token is a target");
                for (int t = prompt; t < SEQ; t++) {
                    int target = generated.targets()[b * SEQ + t - 1];
                    if (target != CrossEntropy.IGNORE_INDEX) assertEquals(generated.inputs()[b * SEQ + t], target, "targets are the next tokens");
                }
            }
            // resume-exact: the same micro-batch again gives the same samples
            assertEquals(java.util.Arrays.toString(generated.inputs()), java.util.Arrays.toString(batches(f, 1, false).batch(3).inputs()));
        }
    }

    @Test
    void lossOnTheStudentsSamplesEqualsGeneralisedJsdInDouble() throws Exception {
        try (Fixture f = fixture(); BufferPool pool = new BufferPool()) {
            Batch batch = batches(f, 1, false).batch(1);
            int vocab = f.teacher().config().vocabSize(), n = batch.batch() * batch.seq();
            float[] p, q;
            try (Graph g = Graph.noGrad(pool)) {
                p = f.teacher().logits(g, batch.inputs(), batch.batch(), batch.seq()).value().toFloatArray();
                q = f.student().logits(g, batch.inputs(), batch.batch(), batch.seq()).value().toFloatArray();
            }
            for (double beta : new double[] {0, 0.5, 1}) {
                double temperature = 1.5;
                KdConfig config = new KdConfig(Divergence.GJSD, temperature, 1, beta, 0);
                double sum = 0;
                int counted = 0;
                for (int row = 0; row < n; row++) {
                    if (batch.targets()[row] == CrossEntropy.IGNORE_INDEX) continue;
                    sum += gjsd(softmax(p, row * vocab, vocab, temperature), softmax(q, row * vocab, vocab, temperature), beta);
                    counted++;
                }
                double expected = temperature * temperature * sum / counted;
                double actual;
                try (Graph g = Graph.withGrad(pool)) {
                    StepLoss loss = KdObjective.live(f.student(), f.teacher(), config).loss(g, batch, batch.targetCount(), 0);
                    actual = loss.loss().item();
                    assertEquals(counted, loss.tokens());
                }
                assertEquals(expected, actual, 2e-5 * Math.abs(expected), "GJSD(β = " + beta + ") loss vs double reference");
            }
        }
    }

    private static double[] softmax(float[] logits, int from, int vocab, double temperature) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int i = 0; i < vocab; i++) max = Math.max(max, logits[from + i] / temperature);
        double[] out = new double[vocab];
        for (int i = 0; i < vocab; i++) sum += out[i] = Math.exp(logits[from + i] / temperature - max);
        for (int i = 0; i < vocab; i++) out[i] /= sum;
        return out;
    }

    /** GKD's JSD(β)(p ‖ q), divided by β(1−β); forward KL at β = 0 and reverse KL at β = 1, straight from the definitions. */
    private static double gjsd(double[] p, double[] q, double beta) {
        double d = 0;
        for (int i = 0; i < p.length; i++) {
            if (beta == 0) d += p[i] * Math.log(p[i] / q[i]);
            else if (beta == 1) d += q[i] * Math.log(q[i] / p[i]);
            else {
                double m = beta * p[i] + (1 - beta) * q[i];
                d += (beta * p[i] * Math.log(p[i] / m) + (1 - beta) * q[i] * Math.log(q[i] / m)) / (beta * (1 - beta));
            }
        }
        return d;
    }
}
