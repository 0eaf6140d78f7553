package dev.retort.models.export;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A real tokenizer through GGUF and back: the tokenizer keys written as llama.cpp's converter writes them
 * ({@link GgufVocabulary}), then read by the GGUF import, must tokenize as the Hugging Face files did — Llama 2's
 * SentencePiece model ("llama") and Llama 3's byte-level BPE ("gpt2", pre-tokenizer llama-bpe). The one
 * difference: a SentencePiece-style vocabulary reads the text "&lt;s&gt;" as plain text, as SentencePiece does.
 */
class GgufTokenizerImportTest {
    static final List<String> TEXTS = List.of("Hello world", "Once upon a time, there was a little girl named Lily.",
            " leading and  double  spaces ", "line\nbreaks\n\n and\ttabs", "numbers 1234567 3.14", "naïve café 日本語 ☃ 🚀",
            "I've been 'told he's there, 'RE you sure?", "<s> and </s> and <|begin_of_text|> as text", "", "a");

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"llama2-tokenizer", "llama3-tokenizer"})
    void tokenizesAsTheHuggingFaceFiles(String asset) throws Exception {
        Path dir = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets").resolve(asset).normalize();
        assumeTrue(Files.isDirectory(dir), "shared test asset " + dir.toAbsolutePath() + " is absent; skipping");
        Tokenizer hf = Tokenizers.load(dir);
        GgufWriter out = new GgufWriter();
        out.putString("general.architecture", "llama");
        GgufVocabulary.put(out, dir, hf.vocabSize());
        Path file = tmp.resolve(asset + ".gguf");
        out.write(file);

        Tokenizer gguf = Tokenizers.load(file);
        assertEquals(hf.vocabSize(), gguf.vocabSize());
        assertEquals(hf.bosId(), gguf.bosId());
        assertEquals(hf.eosId(), gguf.eosId());
        assertEquals(hf.addsBosByDefault(), gguf.addsBosByDefault());
        assertEquals(hf.addsEosByDefault(), gguf.addsEosByDefault());
        boolean sentencePiece = Files.isRegularFile(dir.resolve("tokenizer.model"));
        for (String text : TEXTS) {
            int[] ids = hf.encode(text);
            // A SentencePiece-style vocabulary encodes the text of control tokens as plain text, as SentencePiece
            // (and Retort's tokenizer.model reader) does; tokenizer.json makes "<s>" the token.
            if (sentencePiece && text.contains("<s>")) continue;
            assertArrayEquals(ids, gguf.encode(text), text);
            assertEquals(hf.decode(ids), gguf.decode(ids), text);
        }
        // a model written from the GGUF file gets the file's tokenizer as Hugging Face files
        Path written = java.nio.file.Files.createDirectories(tmp.resolve(asset + "-written"));
        dev.retort.models.gguf.GgufModel.writeTokenizerFiles(file, written);
        Tokenizer back = Tokenizers.load(written);
        assertEquals(gguf.bosId(), back.bosId());
        assertEquals(gguf.addsBosByDefault(), back.addsBosByDefault());
        for (String text : TEXTS) assertArrayEquals(gguf.encode(text), back.encode(text), text);
        if (sentencePiece) {
            Tokenizer spm = Tokenizers.loadSentencePiece(dir.resolve("tokenizer.model"), dir.resolve("tokenizer_config.json"));
            for (String text : TEXTS) {
                int[] ids = spm.encode(text);
                assertArrayEquals(ids, gguf.encode(text), text);
                assertEquals(spm.decode(ids), gguf.decode(ids), text);
            }
        }
    }
}
