package dev.retort.models.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.export.GgufExporter;
import dev.retort.models.export.ModelExporterTest;
import dev.retort.models.export.Q8Blocks;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Tensor;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Export then import: stories260K written by {@link GgufExporter} at f32, f16 and q8_0 and opened again as a GGUF
 * file gives the HF directory's config, tokens, weights (exactly, or exactly the file type's rounding of them)
 * and logits (bitwise for f32; within the bounds argued at {@link #F16_LOGIT_BOUND}).
 */
class GgufRoundTripTest {
    static final String PROMPT = "Once upon a time, there was a little girl named Lily.";
    /**
     * The logit bounds are relative to the largest |logit| of the prompt (20.5 here), in units u of the file type's
     * rounding of one weight: F16 keeps 11 significant bits, u = 2^-11; Q8_0 rounds to half a step of its block's
     * largest weight over 127, u = 1/254. Rounding errors through 5 layers partly cancel and partly add up:
     * measured, f16 logits move by 1.1u (0.0113) and q8_0 ones by 2.6u (0.213). The bounds allow about three
     * times that: 4u for f16 (0.040 here), 8u for q8_0 (0.65 here). An import that misplaced one row or block
     * would move them by the size of the logits themselves.
     */
    static final double F16_LOGIT_BOUND = 4.0 / 2048, Q8_LOGIT_BOUND = 8.0 / 254;

    @TempDir
    Path tmp;

    Path export(GgufExporter.FileType type) {
        Path file = tmp.resolve("stories-" + type + ".gguf");
        GgufExporter.export(ModelExporterTest.stories(), null, file, type);
        return file;
    }

    @Test
    void configIsTheDirectorys() {
        Path stories = ModelExporterTest.stories();
        LlamaConfig hf = LlamaConfig.read(stories);
        LlamaConfig gguf = LlamaConfig.read(export(GgufExporter.FileType.Q8_0));
        assertEquals(hf.withTorchDtype(null), gguf);
        assertEquals(DType.F32, LlamaConfig.read(export(GgufExporter.FileType.F32)).torchDtype());
    }

    @Test
    void tokenizerEncodesAndDecodesAsTheDirectorys() throws Exception {
        Tokenizer hf = Tokenizers.load(ModelExporterTest.stories());
        Tokenizer gguf = Tokenizers.load(export(GgufExporter.FileType.F32));
        assertEquals(hf.vocabSize(), gguf.vocabSize());
        assertEquals(hf.bosId(), gguf.bosId());
        assertEquals(hf.eosId(), gguf.eosId());
        assertEquals(hf.addsBosByDefault(), gguf.addsBosByDefault());
        for (int id = 0; id < hf.vocabSize(); id++) assertEquals(hf.token(id), gguf.token(id), "token " + id);
        for (String text : List.of(PROMPT, "Hello world", " leading space", "two  spaces", "line\nbreak", "", "naïve café ☃ 🚀",
                "Lily said, \"Mom! Look!\" and ran to the tree.")) {
            int[] ids = hf.encode(text);
            assertArrayEquals(ids, gguf.encode(text), text);
            assertEquals(hf.decode(ids), gguf.decode(ids), text);
        }
    }

    @Test
    void f32WeightsAndLogitsAreBitwiseTheDirectorys() {
        Path file = export(GgufExporter.FileType.F32);
        try (ModelWeights hf = ModelWeights.open(ModelExporterTest.stories()); ModelWeights gguf = ModelWeights.open(file)) {
            assertTrue(gguf instanceof GgufWeights);
            assertEquals(hf.names(), gguf.names());
            for (String name : hf.names()) {
                assertArrayEquals(hf.tensor(name).toFloatArray(), gguf.tensor(name).toFloatArray(), name);
                assertArrayEquals(hf.tensor(name).shape(), gguf.tensor(name).shape(), name);
            }
        }
        assertEquals(0.0, maxLogitDifference(file));
        try (Llm dir = Llm.open(ModelExporterTest.stories()); Llm gguf = Llm.open(file)) {
            assertEquals(dir.generate("Once upon a time", Sampling.greedy(40)), gguf.generate("Once upon a time", Sampling.greedy(40)));
            assertEquals(dir.loss(PROMPT), gguf.loss(PROMPT));
        }
    }

    @Test
    void f16WeightsAreTheDirectorysRoundedAndLogitsWithinBound() {
        Path file = export(GgufExporter.FileType.F16);
        try (ModelWeights hf = ModelWeights.open(ModelExporterTest.stories()); ModelWeights gguf = ModelWeights.open(file)) {
            for (String name : hf.names()) {
                Tensor t = gguf.tensor(name);
                float[] want = hf.tensor(name).toFloatArray();
                if (t.rank() == 2) {
                    assertEquals(DType.F16, t.dtype(), name);   // used in place, as stored
                    for (int i = 0; i < want.length; i++) want[i] = Half.f16ToFloat(Half.floatToF16(want[i]));
                }
                assertArrayEquals(want, t.toFloatArray(), name);
            }
        }
        double d = maxLogitDifference(file);
        assertTrue(d > 0 && d <= F16_LOGIT_BOUND, "f16 logits differ by " + d + " of the largest");
    }

    @Test
    void q8WeightsAreTheDirectorysQuantisedAndLogitsWithinBound() {
        Path file = export(GgufExporter.FileType.Q8_0);
        try (ModelWeights hf = ModelWeights.open(ModelExporterTest.stories()); ModelWeights gguf = ModelWeights.open(file)) {
            for (String name : hf.names()) {
                Tensor t = gguf.tensor(name);
                float[] want = hf.tensor(name).toFloatArray();
                GgmlType stored = ((GgufWeights) gguf).entry(name).type();
                if (stored == GgmlType.Q8_0) {
                    byte[] blocks = Q8Blocks.quantize(want);
                    for (int i = 0; i < want.length; i++) {
                        want[i] = Q8Blocks.dequantize(java.lang.foreign.MemorySegment.ofArray(blocks), i / Q8Blocks.BLOCK, i % Q8Blocks.BLOCK);
                    }
                } else if (stored == GgmlType.F16) {   // rows of 172 are not whole blocks: F16, as the converter does
                    for (int i = 0; i < want.length; i++) want[i] = Half.f16ToFloat(Half.floatToF16(want[i]));
                }
                assertEquals(stored == GgmlType.F16 ? DType.F16 : DType.F32, t.dtype(), name);   // Q8_0 dequantised to F32
                assertArrayEquals(want, t.toFloatArray(), name);
            }
        }
        double d = maxLogitDifference(file);
        assertTrue(d > 0 && d <= Q8_LOGIT_BOUND, "q8_0 logits differ by " + d + " of the largest");
    }

    /**
     * The largest |difference| between the GGUF file's and the directory's logits at every position of the prompt
     * (both paths: the autograd model and the KV-cache inference), over the directory's largest |logit|.
     */
    static double maxLogitDifference(Path gguf) {
        try (Llm dir = Llm.open(ModelExporterTest.stories()); Llm file = Llm.open(gguf)) {
            int[] tokens = dir.tokenizer().encode(PROMPT);
            assertArrayEquals(tokens, file.tokenizer().encode(PROMPT));
            double max = 0;
            float[][] a = dir.allLogits(tokens), b = file.allLogits(tokens);
            for (int t = 0; t < a.length; t++) {
                for (int v = 0; v < a[t].length; v++) max = Math.max(max, Math.abs(a[t][v] - b[t][v]));
            }
            float[] last = dir.logits(tokens), lastFile = file.logits(tokens);
            for (int v = 0; v < last.length; v++) max = Math.max(max, Math.abs(last[v] - lastFile[v]));
            double scale = 0;
            for (float[] row : a) for (float x : row) scale = Math.max(scale, Math.abs(x));
            return max / scale;
        }
    }
}
