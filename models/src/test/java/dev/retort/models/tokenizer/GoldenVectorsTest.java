package dev.retort.models.tokenizer;

import static dev.retort.models.tokenizer.ReferenceVectorsTest.ids;
import static dev.retort.models.tokenizer.TokenizerAssertions.assertIds;
import static dev.retort.models.tokenizer.TokenizerAssertions.assertText;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * Encoding and decoding equal what the reference tokenizers computed for the golden strings (unicode, emoji,
 * runs of spaces, newlines, digits, byte-fallback characters, the empty string, special-token text) and the
 * golden id sequences (byte runs that are valid, truncated or invalid UTF-8, control and unknown ids).
 */
class GoldenVectorsTest {

    @TempDir
    static Path tempDir;

    /**
     * SentencePiece itself (python3-sentencepiece) on the Llama 2 and stories260K tokenizer.model files and on
     * a small trained model with user-defined and unused pieces.
     */
    @TestFactory
    Stream<DynamicNode> sentencePieceModelsMatchSentencePiece() throws IOException {
        JsonNode golden = GoldenVectors.read("sentencepiece-golden.json").get("models");
        List<DynamicNode> models = new ArrayList<>();
        for (Map.Entry<String, JsonNode> model : golden.properties()) {
            Tokenizer tokenizer = Tokenizers.loadSentencePiece(modelFile(model.getKey()), null);
            List<DynamicTest> tests = new ArrayList<>();
            for (JsonNode c : model.getValue().get("encode")) {
                String text = c.get("text").asText();
                int[] ids = ids(c.get("ids"));
                tests.add(DynamicTest.dynamicTest("encode " + TokenizerAssertions.quote(text), () -> {
                    assertIds(ids, tokenizer.encode(text, false, false), text);
                    assertText(c.get("decoded").asText(), tokenizer.decode(ids), ids);
                }));
            }
            for (JsonNode c : model.getValue().get("decode")) {
                int[] ids = ids(c.get("ids"));
                tests.add(DynamicTest.dynamicTest("decode " + c.get("ids"), () -> {
                    assertText(c.get("text").asText(), tokenizer.decode(ids), ids);
                    assertText(c.get("text").asText(), tokenizer.decode(ids, false), ids); // control ids never show
                }));
            }
            models.add(DynamicContainer.dynamicContainer(model.getKey() + "/tokenizer.model", tests));
        }
        return models.stream();
    }

    /** A shared tokenizer.model, or the test model with user-defined and unused pieces in the test resources. */
    static Path modelFile(String name) {
        if (name.equals("user-defined-bpe")) {
            try {
                return Path.of(GoldenVectorsTest.class.getResource("/tokenizer/user-defined-bpe.model").toURI());
            } catch (java.net.URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }
        return SharedAssets.resolve(name + "/tokenizer.model");
    }

    /** HF tokenizers (its Rust library through the npm binding) on the tokenizer.json files and variants. */
    @TestFactory
    Stream<DynamicNode> huggingFaceTokenizersMatchHuggingFace() throws IOException {
        JsonNode golden = GoldenVectors.read("huggingface-golden.json").get("variants");
        List<DynamicNode> variants = new ArrayList<>();
        for (Map.Entry<String, JsonNode> variant : golden.properties()) {
            Tokenizer tokenizer = GoldenVectors.huggingFaceVariant(variant.getKey(), tempDir);
            List<DynamicTest> tests = new ArrayList<>();
            for (JsonNode c : variant.getValue().get("encode")) {
                String text = c.get("text").asText();
                int[] ids = ids(c.get("ids"));
                int[] plainIds = ids(c.get("plainIds"));
                tests.add(DynamicTest.dynamicTest("encode " + TokenizerAssertions.quote(text), () -> {
                    assertIds(ids, tokenizer.encode(text, false, false, SpecialTokenText.SPECIAL), text);
                    assertIds(plainIds, tokenizer.encode(text, false, false, SpecialTokenText.PLAIN), text);
                    assertText(c.get("decoded").asText(), tokenizer.decode(ids), ids);
                    assertText(c.get("decodedWithSpecial").asText(), tokenizer.decode(ids, false), ids);
                }));
            }
            for (JsonNode c : variant.getValue().get("decode")) {
                int[] ids = ids(c.get("ids"));
                tests.add(DynamicTest.dynamicTest("decode " + c.get("ids"), () -> {
                    assertText(c.get("text").asText(), tokenizer.decode(ids), ids);
                    assertText(c.get("textWithSpecial").asText(), tokenizer.decode(ids, false), ids);
                }));
            }
            variants.add(DynamicContainer.dynamicContainer(variant.getKey(), tests));
        }
        return variants.stream();
    }
}
