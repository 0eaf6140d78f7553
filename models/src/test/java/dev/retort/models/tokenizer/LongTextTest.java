package dev.retort.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * A corpus of megabytes tokenizes in seconds: BPE over one long word (SentencePiece-style files have no
 * pre-tokenizer, so each text is one word) must not rescan the word per merge. The bound is loose enough
 * for a busy machine and far below what a quadratic encoder would need.
 */
class LongTextTest {

    private static final int CORPUS_CHARS = 1 << 20;
    private static final double SECONDS_ALLOWED = 30;

    /** About a megabyte of varied text made from the golden strings, numbered so that words vary. */
    private static String corpus() {
        JsonNode inputs = GoldenVectors.read("huggingface-golden.json").get("variants").get("llama2-tokenizer")
                .get("encode");
        StringBuilder text = new StringBuilder();
        for (int n = 0; text.length() < CORPUS_CHARS; n++) {
            String line = inputs.get(n % inputs.size()).get("text").asText();
            // Special-token text and "▁" (which decodes to a space) do not decode back to themselves.
            if (!line.contains("<") && !line.contains("\u2581")) {
                text.append(line).append(' ').append(n).append('\n');
            }
        }
        return text.toString();
    }

    private static void assertEncodesAndDecodesQuickly(Tokenizer tokenizer, String name) {
        String text = corpus();
        long start = System.nanoTime();
        int[] ids = tokenizer.encode(text, false, false);
        double encodeSeconds = (System.nanoTime() - start) / 1e9;
        start = System.nanoTime();
        String decoded = tokenizer.decode(ids);
        double decodeSeconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("%s: %d chars -> %d ids, encode %.2f s (%.1f MB/s), decode %.2f s%n", name, text.length(),
                ids.length, encodeSeconds, text.length() / 1e6 / encodeSeconds, decodeSeconds);
        assertTrue(encodeSeconds < SECONDS_ALLOWED, name + ": encoding 1 MiB took " + encodeSeconds + " s");
        assertEquals(text, decoded, name + ": decoding the encoding gives the text back");
    }

    @Test
    void llama2TokenizerJsonEncodesAMegabyteInSeconds() throws IOException {
        assertEncodesAndDecodesQuickly(Tokenizers.load(SharedAssets.resolve("llama2-tokenizer")), "llama2 tokenizer.json");
    }

    @Test
    void llama2SentencePieceModelEncodesAMegabyteInSeconds() throws IOException {
        Path model = SharedAssets.resolve("llama2-tokenizer/tokenizer.model");
        assertEncodesAndDecodesQuickly(Tokenizers.loadSentencePiece(model, null), "llama2 tokenizer.model");
    }

    @Test
    void llama3TokenizerJsonEncodesAMegabyteInSeconds() {
        assertEncodesAndDecodesQuickly(Llama3.tokenizer(), "llama3 tokenizer.json");
    }
}
