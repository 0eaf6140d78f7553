package dev.retort.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.export.ModelExporterTest;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.Generator;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.llama.Sampler;
import dev.retort.models.lora.Lora;
import dev.retort.models.lora.LoraAdapter;
import dev.retort.models.lora.LoraConfig;
import dev.retort.models.lora.LoraModel;
import dev.retort.models.lora.PeftAdapter;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The library entry point on stories260K (a real trained tiny Llama): the same numbers as the parts it wraps. */
class LlmTest {
    static final String PROMPT = "Once upon a time";
    static final String TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
            + "One day, she saw a big red ball under a tree.";

    @TempDir
    Path tmp;

    static Path stories() {
        return ModelExporterTest.stories();
    }

    /** The model, tokenizer and generator wired by hand, as the CLI did before {@link Llm}. */
    record ByHand(LlamaModel model, Tokenizer tokenizer, ModelWeights weights, Arena arena) implements AutoCloseable {
        static ByHand open(Path dir) throws Exception {
            ModelWeights weights = ModelWeights.open(dir);
            Arena arena = Arena.ofShared();
            return new ByHand(LlamaModel.load(LlamaConfig.read(dir), weights, arena, false), Tokenizers.load(dir), weights, arena);
        }

        /** retort eval's computation before Llm: summed losses over windows, divided by the predicted count. */
        double evalLoss(int[] tokens, int window) {
            double total = 0;
            long predicted = 0;
            try (BufferPool pool = new BufferPool()) {
                for (int start = 0; start + 1 < tokens.length; start += window) {
                    int n = Math.min(window, tokens.length - 1 - start);
                    try (Graph g = Graph.noGrad(pool)) {
                        total += (double) model.loss(g, Arrays.copyOfRange(tokens, start, start + n),
                                Arrays.copyOfRange(tokens, start + 1, start + 1 + n), 1, n, 1.0).item();
                    }
                    predicted += n;
                }
            }
            return total / predicted;
        }

        @Override
        public void close() {
            weights.close();
            arena.close();
        }
    }

    /** Saves an all-linear rank-4 adapter for {@code modelDir} with B random and non-zero (a fresh B is zero). */
    static void writeAdapter(Path modelDir, Path adapterDir) {
        LlamaConfig config = LlamaConfig.read(modelDir);
        try (ModelWeights weights = ModelWeights.open(modelDir); Arena arena = Arena.ofShared()) {
            LoraModel lora = Lora.attach(LlamaModel.load(config, weights, arena, false),
                    LoraConfig.of(4, 8, "all-linear").withSeed(3));
            perturbB(lora, 42);
            PeftAdapter.save(adapterDir, lora, modelDir.toString());
            lora.detach();
        }
    }

    static void perturbB(LoraModel lora, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (LoraAdapter a : lora.adapters().values()) {
            for (long i = 0; i < a.b().value().size(); i++) a.b().value().setFlat(i, (float) ((random.nextDouble() * 2 - 1) * 0.05));
        }
    }

    @Test
    void generateEqualsTheGeneratorGreedyAndSampled() throws Exception {
        Path dir = stories();
        try (Llm llm = Llm.open(dir); ByHand hand = ByHand.open(dir)) {
            Generator generator = new Generator(hand.model(), hand.tokenizer());
            String greedy = llm.generate(PROMPT, Sampling.greedy(40));
            assertEquals(generator.generate(PROMPT, 40, Sampler.greedy(), p -> { }).text(), greedy);
            assertTrue(greedy.split("\\s+").length >= 15, "a sentence or two: " + greedy);

            Sampling sampled = Sampling.defaults().withMaxTokens(30).withSeed(7);
            assertEquals(generator.generate(PROMPT, 30, new Sampler(0.8f, 0, 0.95f, 7), p -> { }).text(), llm.generate(PROMPT, sampled));
            assertEquals(llm.generate(PROMPT, sampled), llm.generate(PROMPT, sampled), "a fresh sampler per call: same seed, same text");

            StringBuilder streamed = new StringBuilder();
            Generator.Result result = llm.generate(PROMPT, Sampling.greedy(40), streamed::append);
            assertEquals(greedy, streamed.toString());
            assertEquals(greedy, result.text());
        }
    }

    /** --no-mmap changes where the weights live, not what they are: the same greedy text. */
    @Test
    void weightsCopiedIntoMemoryGenerateTheSameText() {
        Path dir = stories();
        try (Llm mapped = Llm.open(dir); Llm copied = Llm.open(dir, null, true)) {
            assertEquals(mapped.generate(PROMPT, Sampling.greedy(40)), copied.generate(PROMPT, Sampling.greedy(40)));
        }
    }

    @Test
    void lossEqualsTheEvalComputation() throws Exception {
        Path dir = stories();
        try (Llm llm = Llm.open(dir); ByHand hand = ByHand.open(dir)) {
            int[] tokens = hand.tokenizer().encode(TEXT);
            assertEquals(hand.evalLoss(tokens, 512), llm.loss(TEXT));
            assertEquals(hand.evalLoss(tokens, 512), llm.loss(tokens));
            Evaluation windows = llm.evaluate(tokens, 7);   // several windows, the last one short
            assertEquals(hand.evalLoss(tokens, 7), windows.crossEntropy());
            assertEquals(tokens.length - 1, windows.tokens());
            assertEquals(Math.exp(windows.crossEntropy()), windows.perplexity());
            assertTrue(llm.loss(TEXT) > 0.1 && llm.loss(TEXT) < 3, "a trained model knows its genre: " + llm.loss(TEXT));
        }
    }

    @Test
    void logitsOfTheLastPositionAndOfAll() throws Exception {
        Path dir = stories();
        try (Llm llm = Llm.open(dir); BufferPool pool = new BufferPool()) {
            int[] tokens = llm.tokenizer().encode(PROMPT);
            int vocab = llm.config().vocabSize();
            float[] last = llm.logits(tokens);
            float[][] all = llm.allLogits(tokens);
            assertEquals(vocab, last.length);
            assertEquals(tokens.length, all.length);
            for (float[] row : all) assertEquals(vocab, row.length);
            float[] expected;
            try (Graph g = Graph.noGrad(pool)) {
                expected = llm.model().logits(g, tokens, 1, tokens.length).value().toFloatArray();
            }
            for (int t = 0; t < tokens.length; t++) {
                assertArrayEquals(Arrays.copyOfRange(expected, t * vocab, (t + 1) * vocab), all[t], "row " + t);
            }
            assertClose(all[tokens.length - 1], last, 1e-4, "KV-cache path vs autograd path, last position");
            int argmax = 0;
            for (int v = 1; v < vocab; v++) if (last[v] > last[argmax]) argmax = v;
            assertEquals(argmax, llm.generate(PROMPT, Sampling.greedy(1), p -> { }).generated()[0],
                    "greedy generation picks the argmax of logits()");
        }
    }

    @Test
    void adapterOnOpenGivesTheNumbersOfTheMergedExport() throws Exception {
        Path dir = stories(), adapter = tmp.resolve("adapter"), merged = tmp.resolve("merged");
        writeAdapter(dir, adapter);
        ModelExporter.export(dir, adapter, merged, DType.F32);
        try (Llm base = Llm.open(dir); Llm adapted = Llm.open(dir, adapter); Llm exported = Llm.open(merged)) {
            assertEquals(adapter, adapted.adapter().orElseThrow());
            assertTrue(base.adapter().isEmpty());
            int[] tokens = base.tokenizer().encode(TEXT);
            assertEquals(exported.loss(tokens), adapted.loss(tokens), 1e-5);
            assertNotEquals(base.loss(tokens), adapted.loss(tokens), 1e-3);
            assertClose(exported.logits(tokens), adapted.logits(tokens), 1e-4, "adapted vs exported logits");
            String text = adapted.generate(PROMPT, Sampling.greedy(30));
            assertEquals(exported.generate(PROMPT, Sampling.greedy(30)), text);
            assertNotEquals(base.generate(PROMPT, Sampling.greedy(30)), text);
        }
    }

    @Test
    void badDirectoriesAndAdaptersFailWithOneLineNamingTheFile() throws Exception {
        Path dir = stories();
        ModelFileException missing = assertThrows(ModelFileException.class, () -> Llm.open(tmp.resolve("nope")));
        assertTrue(missing.getMessage().contains("nope") && missing.getMessage().contains("not a directory"), missing.getMessage());

        ModelFileException noAdapter = assertThrows(ModelFileException.class, () -> Llm.open(dir, tmp.resolve("no-adapter")));
        assertTrue(noAdapter.getMessage().contains("no-adapter") && noAdapter.getMessage().contains("adapter_config.json"),
                noAdapter.getMessage());

        assertThrows(UncheckedIOException.class, () -> Llm.open(tmp), "an empty directory has no tokenizer");

        // an adapter trained for a model with hidden size 32: its A matrices are [4 × 32], stories260K needs [4 × 64]
        Path otherShape = tmp.resolve("other-shape");
        String json = Files.readString(dir.resolve("config.json")).replace("\"hidden_size\": 64", "\"hidden_size\": 32");
        LlamaConfig small = LlamaConfig.parse(dir.resolve("config.json"), json);
        assertEquals(32, small.hiddenSize());
        try (Arena arena = Arena.ofShared()) {
            LoraModel lora = Lora.attach(LlamaModel.random(small, arena, 1), LoraConfig.of(4, 8, "q_proj"));
            PeftAdapter.save(otherShape, lora, "small");
            lora.detach();
        }
        ModelFileException shape = assertThrows(ModelFileException.class, () -> Llm.open(dir, otherShape));
        assertEquals(otherShape.resolve(PeftAdapter.WEIGHTS_FILE), shape.file());
        assertTrue(shape.getMessage().contains("[4, 32]") && shape.getMessage().contains("needs [4, 64]"), shape.getMessage());
        assertFalse(shape.getMessage().contains("\n"), "one line");

        Path badConfig = tmp.resolve("bad-config");
        writeAdapter(dir, badConfig);
        Files.writeString(badConfig.resolve(PeftAdapter.CONFIG_FILE), "{\"peft_type\": \"LORA\", \"r\": \"four\"}");
        ModelFileException config = assertThrows(ModelFileException.class, () -> Llm.open(dir, badConfig));
        assertEquals(badConfig.resolve(PeftAdapter.CONFIG_FILE), config.file());
        assertTrue(config.getMessage().contains("\"four\""), config.getMessage());
    }

    @Test
    void argumentsAreCheckedAndClosedModelsRefuseWork() {
        Llm llm = Llm.open(stories());
        assertThrows(IllegalArgumentException.class, () -> llm.logits(new int[0]));
        IllegalArgumentException id = assertThrows(IllegalArgumentException.class, () -> llm.logits(new int[] {1, 512}));
        assertTrue(id.getMessage().contains("512") && id.getMessage().contains("[0, 512)"), id.getMessage());
        assertThrows(IllegalArgumentException.class, () -> llm.loss(new int[] {1}));
        assertThrows(IllegalArgumentException.class, () -> llm.evaluate(new int[] {1, 2, 3}, 513));
        assertThrows(IllegalArgumentException.class, () -> Sampling.greedy(-1));
        assertThrows(IllegalArgumentException.class, () -> Sampling.defaults().withTopP(0));
        llm.close();
        llm.close();   // idempotent
        assertThrows(IllegalStateException.class, () -> llm.generate(PROMPT, Sampling.greedy(1)));
        assertThrows(IllegalStateException.class, () -> llm.loss(TEXT));
    }

    static void assertClose(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        assertTrue(worst <= tolerance, what + ": max difference " + worst);
    }
}
