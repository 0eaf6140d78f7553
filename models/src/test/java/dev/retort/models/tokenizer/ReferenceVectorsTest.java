package dev.retort.models.tokenizer;

import static dev.retort.models.tokenizer.TokenizerAssertions.assertIds;
import static dev.retort.models.tokenizer.TokenizerAssertions.assertText;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The tokenizer test vectors of other projects (shared assets, tokenizer-vectors/): llama.cpp's Llama 2
 * vocabulary cases (made with HF's tokenizer) and the llama-tokenizer-js cases for Llama 2 and Llama 3.
 * Each case is encoded and its reference ids decoded back to the input.
 */
class ReferenceVectorsTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** llama.cpp's format: inputs separated by a marker line, one line of space-separated ids per input. */
    private record Case(String input, int[] ids) {}

    private static List<Case> ggmlCases() throws IOException {
        Path dir = SharedAssets.resolve("tokenizer-vectors");
        String inputs = Files.readString(dir.resolve("ggml-vocab-llama-spm.gguf.inp"), StandardCharsets.UTF_8);
        List<String> outputs = Files.readAllLines(dir.resolve("ggml-vocab-llama-spm.gguf.out"), StandardCharsets.UTF_8);
        String[] texts = inputs.split("\n__ggml_vocab_test__\n", -1);
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < texts.length - 1; i++) { // the file ends with a marker, so the last part is empty
            String line = outputs.get(i).trim();
            int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" +")).mapToInt(Integer::parseInt).toArray();
            cases.add(new Case(texts[i], ids));
        }
        assertEquals(46, cases.size(), "number of llama.cpp cases");
        return cases;
    }

    private static Stream<DynamicTest> ggmlCasesFor(String name, Tokenizer tokenizer) throws IOException {
        return ggmlCases().stream().map(c -> DynamicTest.dynamicTest(name + " " + TokenizerAssertions.quote(c.input()),
                () -> {
                    assertIds(c.ids(), tokenizer.encode(c.input(), false, false), c.input());
                    assertText(c.input(), tokenizer.decode(c.ids()), c.ids());
                }));
    }

    @TestFactory
    Stream<DynamicTest> llamaCppCasesMatchTheLlama2TokenizerJson() throws IOException {
        Path dir = SharedAssets.resolve("llama2-tokenizer");
        return ggmlCasesFor("tokenizer.json", Tokenizers.load(dir));
    }

    @TestFactory
    Stream<DynamicTest> llamaCppCasesMatchTheLlama2SentencePieceModel() throws IOException {
        // The README of the assets: SentencePiece and HF agree on every string without <s>, </s> or <unk>.
        Path dir = SharedAssets.resolve("llama2-tokenizer");
        return ggmlCasesFor("tokenizer.model", Tokenizers.loadSentencePiece(dir.resolve("tokenizer.model"),
                dir.resolve("tokenizer_config.json")));
    }

    private static Stream<DynamicTest> llama2JsCasesFor(String name, Tokenizer tokenizer) throws IOException {
        JsonNode cases = JSON.readTree(SharedAssets.resolve("tokenizer-vectors/llama2-js-cases.json").toFile());
        assertEquals(12, cases.size(), "number of llama2-js cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            String input = c.get("input").asText();
            int[] ids = ids(c.get("ids"));
            tests.add(DynamicTest.dynamicTest(name + " " + TokenizerAssertions.quote(input), () -> {
                assertIds(ids, tokenizer.encode(input), input); // the cases include BOS, as the config says
                assertText(input, tokenizer.decode(ids), ids);
            }));
        }
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> llama2JsCasesMatchTheLlama2TokenizerJson() throws IOException {
        return llama2JsCasesFor("tokenizer.json", Tokenizers.load(SharedAssets.resolve("llama2-tokenizer")));
    }

    @TestFactory
    Stream<DynamicTest> llama2JsCasesMatchTheLlama2SentencePieceModel() throws IOException {
        Path dir = SharedAssets.resolve("llama2-tokenizer");
        return llama2JsCasesFor("tokenizer.model", Tokenizers.loadSentencePiece(dir.resolve("tokenizer.model"), null));
    }

    @TestFactory
    Stream<DynamicTest> llama3JsCasesMatchTheLlama3TokenizerJson() throws IOException {
        Tokenizer tokenizer = Llama3.tokenizer();
        JsonNode cases = JSON.readTree(SharedAssets.resolve("tokenizer-vectors/llama3-js-cases.json").toFile());
        assertEquals(21, cases.size(), "number of llama3-js cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : cases) {
            String input = c.get("input").asText();
            int[] ids = ids(c.get("ids"));
            JsonNode options = c.get("options");
            // llama-tokenizer-js adds BOS and EOS unless told otherwise.
            boolean bos = options == null || options.isNull() || options.path("bos").asBoolean(true);
            boolean eos = options == null || options.isNull() || options.path("eos").asBoolean(true);
            tests.add(DynamicTest.dynamicTest("bos=" + bos + " eos=" + eos + " " + TokenizerAssertions.quote(input), () -> {
                assertIds(ids, tokenizer.encode(input, bos, eos), input);
                int[] text = Arrays.copyOfRange(ids, bos ? 1 : 0, ids.length - (eos ? 1 : 0));
                assertText(input, tokenizer.decode(text, false), text);
            }));
        }
        return tests.stream();
    }

    static int[] ids(JsonNode array) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = array.get(i).asInt();
        }
        return ids;
    }
}
