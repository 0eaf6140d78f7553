package dev.retort.distill.cache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.retort.models.tokenizer.SpecialTokenText;
import dev.retort.models.tokenizer.TokenStreamDecoder;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalInt;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CacheHashesTest {
    @TempDir
    Path dir;

    /** A vocabulary of given spellings (null = a hole in the ids), BOS 0 and EOS 1. */
    private static Tokenizer vocabulary(String... spellings) {
        return new Tokenizer() {
            @Override
            public int[] encode(String text, boolean addBos, boolean addEos, SpecialTokenText special) {
                throw new UnsupportedOperationException();
            }

            @Override
            public TokenStreamDecoder streamDecoder(boolean skipSpecialTokens) {
                throw new UnsupportedOperationException();
            }

            @Override
            public int vocabSize() {
                return spellings.length;
            }

            @Override
            public int bosId() {
                return 0;
            }

            @Override
            public int eosId() {
                return 1;
            }

            @Override
            public boolean addsBosByDefault() {
                return true;
            }

            @Override
            public boolean addsEosByDefault() {
                return false;
            }

            @Override
            public String token(int id) {
                if (spellings[id] == null) throw new IllegalArgumentException("token id " + id + " is not in the vocabulary");
                return spellings[id];
            }

            @Override
            public OptionalInt id(String token) {
                int id = Arrays.asList(spellings).indexOf(token);
                return id < 0 ? OptionalInt.empty() : OptionalInt.of(id);
            }
        };
    }

    @Test
    void fileHashIsTheSha256OfTheBytes() throws IOException {
        // The FIPS 180-2 test vector for "abc".
        Path file = Files.writeString(dir.resolve("abc.txt"), "abc");
        assertEquals("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", CacheHashes.file(file));
        Path empty = Files.write(dir.resolve("empty"), new byte[0]);
        assertEquals("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", CacheHashes.file(empty));
    }

    @Test
    void vocabularyHashChangesWithAnyIdsMeaningAndOnlyThen() {
        String same = CacheHashes.vocabulary(vocabulary("<s>", "</s>", "ab", "c"));
        assertEquals(same, CacheHashes.vocabulary(vocabulary("<s>", "</s>", "ab", "c")), "the same vocabulary");
        assertNotEquals(same, CacheHashes.vocabulary(vocabulary("<s>", "</s>", "a", "bc")), "a moved boundary");
        assertNotEquals(same, CacheHashes.vocabulary(vocabulary("<s>", "</s>", "c", "ab")), "swapped ids");
        assertNotEquals(same, CacheHashes.vocabulary(vocabulary("<s>", "</s>", "ab", "c", "d")), "one more entry");
        assertNotEquals(CacheHashes.vocabulary(vocabulary("<s>", "</s>", null, "c")),
                CacheHashes.vocabulary(vocabulary("<s>", "</s>", "", "c")), "a hole and an empty spelling");
    }

    @Test
    void aTokenizersTwoFileFormatsHashTheSameAndAnotherTokenizerDoesNot() throws IOException {
        Path assets = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets");
        Path stories = assets.resolve("stories260K");
        Path llama2 = assets.resolve("llama2-tokenizer");
        Assumptions.assumeTrue(Files.isDirectory(stories) && Files.isDirectory(llama2),
                "test assets not found at " + assets + " (stories260K, llama2-tokenizer)");
        Path config = stories.resolve("tokenizer_config.json");
        String json = CacheHashes.vocabulary(Tokenizers.loadHuggingFace(stories.resolve("tokenizer.json"), config));
        String model = CacheHashes.vocabulary(Tokenizers.loadSentencePiece(stories.resolve("tokenizer.model"), config));
        assertEquals(json, model, "stories260K's tokenizer.json and tokenizer.model");
        assertNotEquals(json, CacheHashes.vocabulary(Tokenizers.load(llama2)), "stories260K against llama2");
    }
}
