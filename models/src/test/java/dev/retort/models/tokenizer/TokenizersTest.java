package dev.retort.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Tokenizers#load} picks the right file and reads BOS/EOS settings and the vocabulary from it. */
class TokenizersTest {

    @Test
    void llama2DirectoryLoadsTokenizerJsonWithBosFromTheConfig() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(SharedAssets.resolve("llama2-tokenizer"));
        assertEquals(HuggingFaceTokenizer.class, tokenizer.getClass());
        assertEquals(32000, tokenizer.vocabSize());
        assertEquals(1, tokenizer.bosId());
        assertEquals(2, tokenizer.eosId());
        assertTrue(tokenizer.addsBosByDefault());
        assertFalse(tokenizer.addsEosByDefault());
        assertEquals("<0x0A>", tokenizer.token(13));
        assertEquals(OptionalInt.of(29871), tokenizer.id("\u2581"));
        assertEquals(OptionalInt.empty(), tokenizer.id("no such token"));
        assertArrayEquals(new int[] {1, 15043, 3186, 2}, tokenizer.encode("Hello world", true, true));
    }

    @Test
    void llama3DirectoryTakesBosFromThePostProcessorTemplate() {
        Tokenizer tokenizer = Llama3.tokenizer();
        assertEquals(128256, tokenizer.vocabSize());
        assertEquals(128000, tokenizer.bosId());
        assertEquals(128001, tokenizer.eosId());
        assertTrue(tokenizer.addsBosByDefault());
        assertFalse(tokenizer.addsEosByDefault());
        assertEquals("<|eot_id|>", tokenizer.token(128009));
        assertEquals("\u0120the", tokenizer.token(279));
        assertArrayEquals(new int[] {128000, 9906, 1917}, tokenizer.encode("Hello world"));
    }

    @Test
    void aDirectoryWithOnlyTokenizerModelLoadsSentencePiece(@TempDir Path dir) throws IOException {
        Path stories = SharedAssets.resolve("stories260K");
        Files.copy(stories.resolve("tokenizer.model"), dir.resolve("tokenizer.model"));
        Tokenizer tokenizer = Tokenizers.load(dir);
        assertEquals(SentencePieceTokenizer.class, tokenizer.getClass());
        assertEquals(512, tokenizer.vocabSize());
        assertTrue(tokenizer.addsBosByDefault(), "BOS by default, as Transformers' LlamaTokenizer");
        assertFalse(tokenizer.addsEosByDefault());
        // SentencePiece drops the extra spaces that HF's converted tokenizer.json keeps.
        Tokenizer converted = Tokenizers.load(stories);
        assertArrayEquals(converted.encode("Lily saw a dog."), tokenizer.encode("Lily saw a dog."));
        assertArrayEquals(converted.encode("Lily saw a dog."), tokenizer.encode("  Lily  saw a dog.  "));
    }

    @Test
    void aFileGivenDirectlyLoadsThatFile() throws IOException {
        Path dir = SharedAssets.resolve("llama2-tokenizer");
        assertEquals(SentencePieceTokenizer.class, Tokenizers.load(dir.resolve("tokenizer.model")).getClass());
        assertEquals(HuggingFaceTokenizer.class, Tokenizers.load(dir.resolve("tokenizer.json")).getClass());
    }

    @Test
    void specialTokenTextCanBeEncodedAsPlainText() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(SharedAssets.resolve("llama2-tokenizer"));
        assertArrayEquals(new int[] {1, 15043, 2}, tokenizer.encode("Hello</s>"));
        assertArrayEquals(new int[] {1, 15043, 829, 29879, 29958}, tokenizer.encode("Hello</s>", true, false,
                SpecialTokenText.PLAIN));
    }
}
