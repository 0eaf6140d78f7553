package dev.retort.models.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
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
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** stories260K (a real trained tiny Llama) with a random non-zero adapter, merged and exported. */
public class ModelExporterTest {
    static final String PROMPT = "Once upon a time";
    static final int NEW_TOKENS = 24;

    @TempDir
    Path tmp;

    /** stories260K from the shared assets; the test is skipped where they are absent. */
    public static Path stories() {
        Path path = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K").normalize();
        assumeTrue(Files.exists(path.resolve("model.safetensors")), "shared test asset " + path.toAbsolutePath() + " is absent; skipping");
        return path;
    }

    /** Saves an all-linear rank-4 adapter with random A and B (large enough to change the greedy text). */
    static void writeAdapter(Path modelDir, Path adapterDir) {
        LlamaConfig config = LlamaConfig.read(modelDir);
        try (ModelWeights weights = ModelWeights.open(modelDir); Arena arena = Arena.ofShared()) {
            LoraModel lora = Lora.attach(LlamaModel.load(config, weights, arena, false), LoraConfig.of(4, 8, "all-linear"));
            SplittableRandom random = new SplittableRandom(42);
            for (LoraAdapter a : lora.adapters().values()) {
                for (long i = 0; i < a.b().value().size(); i++) a.b().value().setFlat(i, (float) ((random.nextDouble() * 2 - 1) * 0.05));
            }
            PeftAdapter.save(adapterDir, lora, modelDir.toString());
            lora.detach();
        }
    }

    static float[] logits(LlamaModel model, int[] tokens) {
        try (BufferPool pool = new BufferPool(); Graph g = Graph.noGrad(pool)) {
            return model.logits(g, tokens, 1, tokens.length).value().toFloatArray();
        }
    }

    /** Greedy continuation through the training path (full recomputation each step), which runs the adapters. */
    static int[] greedy(LlamaModel model, int[] prompt, int count) {
        int[] tokens = Arrays.copyOf(prompt, prompt.length + count);
        int vocab = model.config().vocabSize();
        for (int n = prompt.length; n < tokens.length; n++) {
            float[] logits = logits(model, Arrays.copyOf(tokens, n));
            int best = 0;
            for (int v = 1; v < vocab; v++) if (logits[(n - 1) * vocab + v] > logits[(n - 1) * vocab + best]) best = v;
            tokens[n] = best;
        }
        return Arrays.copyOfRange(tokens, prompt.length, tokens.length);
    }

    @Test
    void mergedExportLoadsAndMatchesTheAdaptedModel() throws Exception {
        Path base = stories(), adapter = tmp.resolve("adapter"), out = tmp.resolve("merged");
        writeAdapter(base, adapter);
        ModelExporter.export(base, adapter, out, DType.F32);

        Tokenizer tokenizer = Tokenizers.load(base);
        int[] prompt = tokenizer.encode(PROMPT);
        try (ModelWeights baseWeights = ModelWeights.open(base); ModelWeights merged = ModelWeights.open(out);
             Arena arena = Arena.ofShared()) {
            LlamaConfig config = LlamaConfig.read(base);
            assertEquals(DType.F32, LlamaConfig.read(out).torchDtype());
            assertTrue(config.tieWordEmbeddings());
            assertEquals(baseWeights.names(), merged.names(), "the same tensors (tied embedding once, no lm_head)");
            assertFalse(merged.contains("lm_head.weight"));
            for (String name : ModelExporter.COPIED_FILES) {
                if (Files.exists(base.resolve(name))) assertArrayEquals(Files.readAllBytes(base.resolve(name)), Files.readAllBytes(out.resolve(name)), name);
            }

            LlamaModel plain = LlamaModel.load(config, baseWeights, arena, false);
            LlamaModel adapted = LlamaModel.load(config, baseWeights, arena, false);
            PeftAdapter.load(adapter, adapted);
            LlamaModel exported = LlamaModel.load(LlamaConfig.read(out), merged, arena, false);

            int[] probe = Arrays.copyOf(prompt, prompt.length + 3);
            System.arraycopy(new int[] {100, 200, 300}, 0, probe, prompt.length, 3);
            float[] expected = logits(adapted, probe), actual = logits(exported, probe);
            double diffFromBase = maxDiff(expected, logits(plain, probe));
            assertTrue(diffFromBase > 0.5, "the adapter changes the logits noticeably: max change " + diffFromBase);
            assertClose("exported merged vs adapted logits", expected, actual, 1e-4);

            int[] adaptedText = greedy(adapted, prompt, NEW_TOKENS);
            assertFalse(Arrays.equals(greedy(plain, prompt, NEW_TOKENS), adaptedText), "the adapter changes the greedy text");
            Generator.Result generated = new Generator(exported, tokenizer).generate(PROMPT, NEW_TOKENS, Sampler.greedy(), piece -> { });
            int[] exportedText = generated.generated();
            assertArrayEquals(Arrays.copyOf(adaptedText, exportedText.length), exportedText,
                    "greedy text: adapted '" + tokenizer.decode(adaptedText) + "' vs exported '" + generated.text() + "'");
        }
    }

    @Test
    void bf16ExportWithoutAdapterRoundsTheBaseAndSaysSoInItsConfig() throws Exception {
        Path base = stories(), out = tmp.resolve("bf16");
        ModelExporter.export(base, null, out, DType.BF16);
        assertEquals(DType.BF16, LlamaConfig.read(out).torchDtype());
        try (ModelWeights baseWeights = ModelWeights.open(base); ModelWeights exported = ModelWeights.open(out); Arena arena = Arena.ofShared()) {
            for (String name : baseWeights.names()) {
                assertEquals(DType.BF16, exported.tensor(name).dtype(), name);
                float[] expected = baseWeights.tensor(name).toFloatArray(), actual = exported.tensor(name).toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    float rounded = dev.retort.tensor.Half.bf16ToFloat(dev.retort.tensor.Half.floatToBf16(expected[i]));
                    if (Float.compare(rounded, actual[i]) != 0) fail(name + "[" + i + "]: expected " + rounded + " got " + actual[i]);
                }
            }
            LlamaModel model = LlamaModel.load(LlamaConfig.read(out), exported, arena, false);
            LlamaModel original = LlamaModel.load(LlamaConfig.read(base), baseWeights, arena, false);
            int[] probe = {1, 403, 407, 261, 378};
            assertClose("BF16 export vs F32 logits", logits(original, probe), logits(model, probe), 0.1);
        }
    }

    @Test
    void exportNeverOverwritesAndLeavesNothingBehindOnFailure() throws Exception {
        Path base = stories();
        Path occupied = Files.createDirectories(tmp.resolve("occupied"));
        Files.writeString(occupied.resolve("keep.txt"), "mine");
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelExporter.export(base, null, occupied, DType.F32));
        assertTrue(e.getMessage().contains("exists and is not empty"), e.getMessage());
        assertEquals("mine", Files.readString(occupied.resolve("keep.txt")));

        Path badAdapter = Files.createDirectories(tmp.resolve("bad-adapter"));
        Path out = tmp.resolve("out");
        assertThrows(ModelFileException.class, () -> ModelExporter.export(base, badAdapter, out, DType.F32));
        assertFalse(Files.exists(out), "no output after a failed export");
        try (var entries = Files.list(tmp)) {
            assertTrue(entries.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary directory left");
        }
    }

    static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    /** |actual − expected| ≤ tolerance · max(1, max|expected|), element by element. */
    static void assertClose(String what, float[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, what + ": size");
        double scale = 1;
        for (float v : expected) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(actual[i] - expected[i]) <= tolerance * scale)) {
                fail(String.format(Locale.ROOT, "%s: element %d expected %.7g got %.7g (tolerance %.1g × %.3g)", what, i,
                        expected[i], actual[i], tolerance, scale));
            }
        }
    }
}
