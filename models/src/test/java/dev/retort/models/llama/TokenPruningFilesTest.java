package dev.retort.models.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.Llm;
import dev.retort.models.Sampling;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.hf.ModelWeights;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The scorer saved beside a student and attached by {@link Llm#open}, so generation prunes prompts. */
class TokenPruningFilesTest {

    @Test
    void savedPruningIsLoadedByLlmOpenAndUsedByGeneration(@TempDir Path tmp) throws Exception {
        Path src = TokenPruningTest.stories(), dir = tmp.resolve("student");
        Files.createDirectories(dir);
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) Files.copy(f, dir.resolve(f.getFileName()));
        }
        int[] prompt = {1, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51};
        float[] unpruned, expected;
        try (Llm llm = Llm.open(dir)) {
            assertNull(llm.model().pruning());
            unpruned = llm.logits(prompt);
        }
        try (Arena arena = Arena.ofShared(); ModelWeights weights = ModelWeights.open(src)) {
            LlamaModel model = LlamaModel.load(LlamaConfig.read(src), weights, arena, false);
            TokenPruning pruning = new TokenPruning(new TokenPruning.Settings(1, 0.4, 12, 0.15, TokenPruning.Mode.LEARNED, 77), 64, arena);
            pruning.scorer().bias().value().setFlat(0, 0.25f);
            model.setPruning(pruning);
            TokenPruningFiles.save(dir, pruning);
            try (LlamaInference inference = new LlamaInference(model, 64, 8)) {
                expected = inference.forward(prompt).toFloatArray();
            }
            TokenPruning loaded = TokenPruningFiles.load(dir, 64, arena);
            assertEquals(pruning.settings(), loaded.settings());
            assertArrayEquals(pruning.scorer().weight().value().toFloatArray(), loaded.scorer().weight().value().toFloatArray());
            assertEquals(0.25f, loaded.scorer().bias().value().getFlat(0));
        }
        try (Llm llm = Llm.open(dir)) {
            assertNotNull(llm.model().pruning());
            float[] got = llm.logits(prompt);
            assertArrayEquals(expected, got, "Llm.logits prunes the prompt as the inference session does");
            assertTrue(!Arrays.equals(unpruned, got), "pruning changed the logits");
            String text = llm.generate("Once upon a time", Sampling.greedy(12));
            assertTrue(!text.isEmpty());
            // continuationLogits prunes the prefix like generation: its first row is the prompt's last logits
            float[][] rows = llm.continuationLogits(prompt, prompt.length);
            assertEquals(1, rows.length);
            float max = 0;
            for (float v : got) max = Math.max(max, Math.abs(v));
            for (int i = 0; i < got.length; i++) assertEquals(got[i], rows[0][i], 1e-4f * max, "logit " + i);
        }
        Files.writeString(dir.resolve(TokenPruningFiles.CONFIG_FILE), "{\"retort_type\": \"token_pruning\", \"hidden_size\": 64}");
        ModelFileException e = assertThrows(ModelFileException.class, () -> Llm.open(dir));
        assertTrue(e.getMessage().contains(TokenPruningFiles.CONFIG_FILE), e.getMessage());
    }
}
