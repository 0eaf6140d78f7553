package dev.retort.distill.train;

import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DemoCorpus;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The trainer tests' data: {@code paragraphs} of the demo corpus (seed 1) with a 320-token BPE tokenizer trained on
 * them, packed into rows of 32 tokens and split 90/10 into training and held-out rows.
 */
record TinyCorpus(PackedData train, PackedData heldOut, int vocab) {
    static TinyCorpus make(Path dir, int paragraphs) throws IOException {
        String text = new DemoCorpus(1).generate(paragraphs);
        Path tokDir = dir.resolve("tok");
        BpeTrainer.train(text, 320, tokDir);
        Tokenizer tokenizer = Tokenizers.load(tokDir);
        Path data = dir.resolve("corpus.txt");
        Files.writeString(data, text);
        PackedData[] split = PackedData.pack(CorpusReader.read(data, tokenizer), 32, 0).split(0.1);
        return new TinyCorpus(split[0], split[1], tokenizer.vocabSize());
    }
}
