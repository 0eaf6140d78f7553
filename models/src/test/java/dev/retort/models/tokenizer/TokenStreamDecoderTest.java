package dev.retort.models.tokenizer;

import static dev.retort.models.tokenizer.ReferenceVectorsTest.ids;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Streaming decoding returns only final text, and all of it adds up to what whole decoding returns. */
class TokenStreamDecoderTest {

    private static List<String> streamed(Tokenizer tokenizer, int[] ids, boolean skipSpecialTokens) {
        TokenStreamDecoder decoder = tokenizer.streamDecoder(skipSpecialTokens);
        List<String> chunks = new ArrayList<>();
        for (int id : ids) {
            chunks.add(decoder.next(id));
        }
        chunks.add(decoder.finish());
        return chunks;
    }

    private static void assertStreamingEqualsWholeDecoding(Tokenizer tokenizer, JsonNode cases) {
        for (JsonNode c : cases) {
            int[] ids = ids(c.get("ids"));
            for (boolean skip : new boolean[] {true, false}) {
                String whole = tokenizer.decode(ids, skip);
                String joined = String.join("", streamed(tokenizer, ids, skip));
                assertEquals(whole, joined, "streaming " + Arrays.toString(ids) + " skipSpecialTokens=" + skip);
            }
        }
    }

    @Test
    void streamingEqualsWholeDecodingForEveryGoldenSequence() throws IOException {
        JsonNode hf = GoldenVectors.read("huggingface-golden.json").get("variants");
        for (String name : new String[] {"llama2-tokenizer", "stories260K", "llama3-tokenizer"}) {
            Tokenizer tokenizer = GoldenVectors.huggingFaceVariant(name, Path.of("unused"));
            assertStreamingEqualsWholeDecoding(tokenizer, hf.get(name).get("encode"));
            assertStreamingEqualsWholeDecoding(tokenizer, hf.get(name).get("decode"));
        }
        JsonNode sp = GoldenVectors.read("sentencepiece-golden.json").get("models");
        for (String name : new String[] {"llama2-tokenizer", "stories260K", "user-defined-bpe"}) {
            Tokenizer tokenizer = Tokenizers.loadSentencePiece(GoldenVectorsTest.modelFile(name), null);
            assertStreamingEqualsWholeDecoding(tokenizer, sp.get(name).get("encode"));
            assertStreamingEqualsWholeDecoding(tokenizer, sp.get(name).get("decode"));
        }
    }

    @Test
    void byteLevelCharacterSplitOverTokensAppearsWhenComplete() {
        Tokenizer llama3 = Llama3.tokenizer();
        int[] llama = llama3.encode("\uD83E\uDD99!", false, false); // 🦙 is three tokens, then "!"
        assertEquals(List.of(9468, 99, 247, 0), Arrays.stream(llama).boxed().toList(), "ids of 🦙!");
        assertEquals(List.of("", "", "\uD83E\uDD99", "!", ""), streamed(llama3, llama, true));
    }

    @Test
    void sentencePieceByteFallbackCharacterAppearsWhenComplete() throws IOException {
        Path dir = SharedAssets.resolve("llama2-tokenizer");
        Tokenizer tokenizer = Tokenizers.loadSentencePiece(dir.resolve("tokenizer.model"), null);
        int[] ids = {243, 162, 169, 156, 1095}; // <0xF0> <0x9F> <0xA6> <0x99> ▁end
        assertEquals(List.of("", "", "", "\uD83E\uDD99", " end", ""), streamed(tokenizer, ids, true));
    }

    @Test
    void huggingFaceByteRunAppearsWhenTheRunEnds() throws IOException {
        // HF judges a run of <0xXX> tokens as a whole (one invalid byte spoils all of it), so the text of a
        // run can only be given once a non-byte token or the end of the stream closes it.
        Tokenizer tokenizer = Tokenizers.load(SharedAssets.resolve("llama2-tokenizer"));
        int[] ids = {243, 162, 169, 156, 1095, 243, 162, 169, 156};
        assertEquals(List.of("", "", "", "", "\uD83E\uDD99 end", "", "", "", "", "\uD83E\uDD99"),
                streamed(tokenizer, ids, true));
    }

    @Test
    void aFinishedStreamTakesNoMoreIds() {
        TokenStreamDecoder decoder = Llama3.tokenizer().streamDecoder();
        decoder.next(40);
        decoder.finish();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> decoder.next(40));
        assertEquals("this stream is finished; start a new one with streamDecoder()", e.getMessage());
    }
}
