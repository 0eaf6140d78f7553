package dev.retort.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Missing, corrupt and unsupported files are refused with one line that names the file and the problem. */
class BadFilesTest {

    @TempDir
    Path dir;

    /** A small but complete byte-level tokenizer.json, edited by each test to break one thing. */
    private static final String GOOD_JSON = """
            {"added_tokens": [{"id": 5, "content": "<eos>", "special": true, "normalized": false}],
             "normalizer": null,
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
             "post_processor": null,
             "decoder": {"type": "ByteLevel"},
             "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "Ġab": 4},
                       "merges": ["a b", "Ġ ab"]}}
            """;

    private Path write(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content, StandardCharsets.UTF_8);
    }

    private static void assertRefused(Path file, String problem, Executable load) {
        TokenizerFileException e = assertThrows(TokenizerFileException.class, load);
        assertEquals(file + ": " + problem, e.getMessage());
    }

    @Test
    void theGoodFileLoadsAndEncodes() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(write("tokenizer.json", GOOD_JSON));
        assertEquals("[2, 4, 5]", Arrays.toString(tokenizer.encode("ab ab<eos>", false, false)));
        assertEquals("ab ab", tokenizer.decode(new int[] {2, 4, 5}));
        assertEquals(6, tokenizer.vocabSize());
        assertEquals(-1, tokenizer.bosId());
    }

    @Test
    void aMissingDirectoryIsNamed() {
        Path missing = dir.resolve("no-such-model");
        assertRefused(missing, "does not exist", () -> Tokenizers.load(missing));
    }

    @Test
    void aDirectoryWithoutTokenizerFilesIsNamed() {
        assertRefused(dir, "has neither tokenizer.json nor tokenizer.model", () -> Tokenizers.load(dir));
    }

    @Test
    void truncatedJsonGivesTheLineAndColumn() throws IOException {
        Path file = write("tokenizer.json", GOOD_JSON.substring(0, 120));
        TokenizerFileException e = assertThrows(TokenizerFileException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().startsWith(file + ": is not valid JSON at line 3 column"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count(), "one line: " + e.getMessage());
    }

    @Test
    void otherModelTypesAreRefused() throws IOException {
        Path file = write("tokenizer.json", GOOD_JSON.replace("\"type\": \"BPE\"", "\"type\": \"WordPiece\""));
        assertRefused(file, "model type 'WordPiece' is not supported (only BPE)", () -> Tokenizers.load(dir));
    }

    /** Ids size arrays: one beyond the vocabulary (or not whole) is refused by name instead of allocating or truncating. */
    @Test
    void vocabIdsOutsideTheVocabularyOrNotWholeAreRefused() throws IOException {
        Path file = write("tokenizer.json", GOOD_JSON.replace("\"Ġab\": 4", "\"Ġab\": 2147483647"));
        assertRefused(file, "vocab entry 'Ġab' has id 2147483647; expected a whole number in [0, 5) (the vocab's size)",
                () -> Tokenizers.load(dir));
        write("tokenizer.json", GOOD_JSON.replace("\"b\": 1", "\"b\": 3.5"));
        assertRefused(file, "vocab entry 'b' has id 3.5; expected a whole number in [0, 5) (the vocab's size)",
                () -> Tokenizers.load(dir));
    }

    @Test
    void aPostProcessorIdOutsideTheVocabularyIsRefused() throws IOException {
        Path file = write("tokenizer.json", GOOD_JSON.replace("\"post_processor\": null", """
                "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}},
                  {"Sequence": {"id": "A"}}], "special_tokens": {"<s>": {"ids": [2147483647]}}}"""));
        assertRefused(file, "post_processor adds token id 2147483647; expected an id in [0, 6)", () -> Tokenizers.load(dir));
    }

    @Test
    void aMergeOfUnknownTokensIsRefused() throws IOException {
        Path file = write("tokenizer.json", GOOD_JSON.replace("\"Ġ ab\"", "\"Ġ ba\""));
        assertRefused(file, "merges[1] joins 'Ġ' and 'ba' but 'ba' is not in the vocab", () -> Tokenizers.load(dir));
    }

    @Test
    void unsupportedPreTokenizersAreRefused() throws IOException {
        Path file = write("tokenizer.json", GOOD_JSON.replace("\"type\": \"ByteLevel\", \"add_prefix_space\"",
                "\"type\": \"BertPreTokenizer\", \"add_prefix_space\""));
        assertRefused(file, "pre_tokenizer type 'BertPreTokenizer' is not supported (supported: Sequence, Split, "
                + "ByteLevel, Metaspace, Digits)", () -> Tokenizers.load(dir));
    }

    @Test
    void aConfigNamingAnUnknownBosTokenIsNamed() throws IOException {
        write("tokenizer.json", GOOD_JSON);
        Path config = write("tokenizer_config.json", "{\"bos_token\": \"<s>\", \"add_bos_token\": true}");
        assertRefused(config, "bos_token '<s>' is not in the vocabulary", () -> Tokenizers.load(dir));
    }

    @Test
    void askingForAnAbsentEosFailsClearly() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(write("tokenizer.json", GOOD_JSON));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> tokenizer.encode("ab", false, true));
        assertEquals("this tokenizer has no EOS token", e.getMessage());
    }

    @Test
    void decodingAnIdOutsideTheVocabularyFailsClearly() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(write("tokenizer.json", GOOD_JSON));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> tokenizer.decode(new int[] {0, 6}));
        assertEquals("token id 6 is not in the vocabulary (ids 0..5)", e.getMessage());
    }

    @Test
    void aTruncatedSentencePieceModelIsNamed() throws IOException {
        byte[] model = Files.readAllBytes(SharedAssets.resolve("stories260K/tokenizer.model"));
        Path file = Files.write(dir.resolve("tokenizer.model"), Arrays.copyOf(model, 1000));
        TokenizerFileException e = assertThrows(TokenizerFileException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().startsWith(file + ": is not a SentencePiece model: "), e.getMessage());
    }

    @Test
    void aJsonFileGivenAsSentencePieceModelIsNamed() throws IOException {
        Path file = write("tokenizer.model", GOOD_JSON);
        TokenizerFileException e = assertThrows(TokenizerFileException.class, () -> Tokenizers.load(dir));
        assertTrue(e.getMessage().startsWith(file + ": is not a SentencePiece model: "), e.getMessage());
    }

    /** A hand-made ModelProto: pieces (text, type) and the trainer and normalizer fields given. */
    private static byte[] modelProto(int modelType, byte[] charsmap) {
        ByteArrayOutputStream model = new ByteArrayOutputStream();
        String[][] pieces = {{"<unk>", "2"}, {"<s>", "3"}, {"</s>", "3"}, {"a", "1"}};
        for (String[] piece : pieces) {
            byte[] text = piece[0].getBytes(StandardCharsets.UTF_8);
            ByteArrayOutputStream message = new ByteArrayOutputStream();
            message.write(1 << 3 | 2);
            message.write(text.length);
            message.writeBytes(text);
            message.write(3 << 3);
            message.write(Integer.parseInt(piece[1]));
            model.write(1 << 3 | 2);
            model.write(message.size());
            model.writeBytes(message.toByteArray());
        }
        model.writeBytes(new byte[] {2 << 3 | 2, 2, 3 << 3, (byte) modelType});
        model.writeBytes(new byte[] {3 << 3 | 2, (byte) (charsmap.length + 2), 2 << 3 | 2, (byte) charsmap.length});
        model.writeBytes(charsmap);
        return model.toByteArray();
    }

    @Test
    void theHandMadeModelLoads() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(Files.write(dir.resolve("tokenizer.model"), modelProto(2, new byte[0])));
        // What python3-sentencepiece 0.1.97 makes of this model: runs of unknown pieces become one <unk>.
        assertEquals("[0, 3, 0]", Arrays.toString(tokenizer.encode("ab", false, false)));
        assertEquals("[0, 3, 0, 3]", Arrays.toString(tokenizer.encode("ba  a", false, false)));
        assertEquals("[1, 0]", Arrays.toString(tokenizer.encode("xyz")), "BOS by default, then one <unk>");
    }

    @Test
    void unigramModelsAreRefused() throws IOException {
        Path file = Files.write(dir.resolve("tokenizer.model"), modelProto(1, new byte[0]));
        assertRefused(file, "model type UNIGRAM is not supported (only BPE)", () -> Tokenizers.load(dir));
    }

    @Test
    void precompiledNormalizationRulesAreRefused() throws IOException {
        Path file = Files.write(dir.resolve("tokenizer.model"), modelProto(2, new byte[] {1, 2, 3}));
        assertRefused(file, "normalizer '' uses precompiled normalization rules, which are not supported "
                + "(only 'identity')", () -> Tokenizers.load(dir));
    }
}
