package dev.retort.distill.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {

    @Test
    void trainedTokenizerLoadsAndRoundTripsTheCorpus(@TempDir Path dir) throws Exception {
        String text = new DemoCorpus(1).generate(300);
        BpeTrainer.train(text, 400, dir);
        Tokenizer tokenizer = Tokenizers.load(dir);
        assertEquals(400, tokenizer.vocabSize());
        for (String paragraph : text.split("\n\n")) {
            String p = paragraph.strip();
            int[] ids = tokenizer.encode(p);
            assertEquals(1, ids[0], "BOS first");
            assertEquals(p, tokenizer.decode(ids), "decode(encode(x)) == x");
        }
        // Merges compress: frequent words are single tokens, so a paragraph needs far fewer tokens than characters.
        String sample = text.split("\n\n")[0].strip();
        assertTrue(tokenizer.encode(sample).length < sample.length() / 2.5,
                tokenizer.encode(sample).length + " tokens for " + sample.length() + " characters");
        // Byte fallback: text outside the corpus still encodes and decodes.
        assertEquals("Zürich ✓", tokenizer.decode(tokenizer.encode("Zürich ✓")));
    }

    @Test
    void theCorpusIsDeterministicPerSeed() {
        assertEquals(new DemoCorpus(3).generate(20), new DemoCorpus(3).generate(20));
        assertTrue(!new DemoCorpus(3).generate(20).equals(new DemoCorpus(4).generate(20)));
        String text = new DemoCorpus(5).generate(400);
        // The world's facts are consistent: each animal always lives in the same place.
        java.util.Map<String, String> homes = new java.util.HashMap<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("the \\w+ (\\w+) lives in the (\\w+)\\.").matcher(text);
        while (m.find()) {
            String previous = homes.putIfAbsent(m.group(1), m.group(2));
            assertTrue(previous == null || previous.equals(m.group(2)), m.group(1) + " lives in two places");
        }
        assertTrue(homes.size() > 10);
    }
}
