package dev.retort.models.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Parameter;
import dev.retort.autograd.Var;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Tiny random Llamas against PyTorch (tools/golden/make_llama_golden.py): logits within 1e-4 absolute, the
 * loss, and every parameter's gradient within 1e-3 relative to that gradient's largest element.
 */
class LlamaGoldenTest {

    static Path golden(String name) throws URISyntaxException {
        return Path.of(LlamaGoldenTest.class.getResource("/golden/" + name + "/config.json").toURI()).getParent();
    }

    @ParameterizedTest
    @ValueSource(strings = {"gqa-untied", "mha-tied", "llama3-rope"})
    void logitsLossAndEveryGradientMatchPyTorch(String name) throws Exception {
        Path dir = golden(name);
        int[][] tokenRows = new ObjectMapper().readValue(dir.resolve("tokens.json").toFile(), int[][].class);
        int batch = tokenRows.length, seq = tokenRows[0].length;
        int[] tokens = new int[batch * seq];
        for (int b = 0; b < batch; b++) System.arraycopy(tokenRows[b], 0, tokens, b * seq, seq);

        LlamaConfig config = LlamaConfig.read(dir);
        try (ModelWeights weights = ModelWeights.open(dir); ModelWeights expected = ModelWeights.open(dir.resolve("golden.safetensors"));
             Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel model = LlamaModel.load(config, weights, arena, true);

            try (Graph g = Graph.noGrad(pool)) {
                float[] logits = model.logits(g, tokens, batch, seq).value().toFloatArray();
                assertClose(name + " logits", expected.tensor("logits").toFloatArray(), logits, 1e-4, false);
            }

            try (Graph g = Graph.withGrad(pool)) {
                Var loss = model.loss(g, tokens, LlamaModel.shiftedTargets(tokens, batch, seq), batch, seq, 0);
                loss.backward();
                assertEquals(expected.tensor("loss").getFlat(0), loss.item(), 1e-5, name + " loss");
            }
            Map<String, Parameter> params = model.namedParameters();
            assertEquals(weights.names().size(), params.size(), "every tensor of the checkpoint is a parameter: " + weights.names());
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                Tensor ref = expected.tensor("grad." + e.getKey());
                assertClose(name + " gradient of " + e.getKey(), ref.toFloatArray(), e.getValue().grad().toFloatArray(), 1e-3, true);
            }
        }
    }

    static void assertClose(String what, float[] expected, float[] actual, double tolerance, boolean relative) {
        assertEquals(expected.length, actual.length, what + ": size");
        double scale = 1;
        if (relative) {
            scale = 0;
            for (float e : expected) scale = Math.max(scale, Math.abs(e));
            assertTrue(scale > 0, what + ": reference is all zeros");
        }
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]) / scale;
            if (!(err <= tolerance)) {
                fail(String.format(Locale.ROOT, "%s: element %d expected %.7g got %.7g (error %.3g > %.1g%s)", what, i,
                        expected[i], actual[i], err, tolerance, relative ? " relative to max " + scale : ""));
            }
        }
    }
}
