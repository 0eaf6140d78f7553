package dev.retort.distill.demo;

import dev.retort.distill.OutputDirectory;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.train.ResourceUse;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The demo's distillation task, shared by {@code retort demo} and the experiments that distil on it: a generated
 * corpus ({@link DemoCorpus}), a BPE tokenizer trained on it, a teacher trained from scratch on the whole corpus
 * (cross-entropy), and for the students a small transfer set and a held-out file from other seeds of the generator.
 */
public final class DemoTask {
    /**
     * Sizes of the task: {@code paragraphs} of corpus for the teacher, {@code transferParagraphs} for the students,
     * the tokenizer's vocabulary, the teacher's shape, sequence length and batch, and its training steps.
     */
    public record Size(int paragraphs, int transferParagraphs, int vocab, int dim, int layers, int heads, int kvHeads,
                       int hidden, int seq, int batch, int teacherSteps, long seed) {}

    /** What {@link #prepare} wrote in its work directory, and what training the teacher cost. */
    public record Files(Path corpus, Path transfer, Path heldOut, Path tokenizer, Path teacher, Path teacherRun, ResourceUse teacherTraining) {}

    private DemoTask() {}

    /**
     * Writes the corpus, transfer and held-out files, trains the tokenizer and the teacher, and saves the teacher in
     * HF layout; the directories an earlier run left in {@code work} are replaced.
     */
    public static Files prepare(Path work, Size size, PrintStream log) throws IOException {
        java.nio.file.Files.createDirectories(work);
        for (String previous : List.of("teacher", "tokenizer", "teacher-run")) OutputDirectory.fresh(work.resolve(previous));
        Path corpus = work.resolve("corpus.txt"), transfer = work.resolve("transfer.txt"), heldOutFile = work.resolve("heldout.txt");
        String text = new DemoCorpus(size.seed()).generate(size.paragraphs());
        java.nio.file.Files.writeString(corpus, text, StandardCharsets.UTF_8);
        java.nio.file.Files.writeString(transfer, new DemoCorpus(size.seed() + 500).generate(size.transferParagraphs()), StandardCharsets.UTF_8);
        java.nio.file.Files.writeString(heldOutFile, new DemoCorpus(size.seed() + 1000).generate(Math.max(20, size.paragraphs() / 20)),
                StandardCharsets.UTF_8);
        Path teacherDir = work.resolve("teacher"), tokenizerDir = work.resolve("tokenizer"), teacherRun = work.resolve("teacher-run");
        BpeTrainer.train(text, size.vocab(), tokenizerDir);
        Tokenizer tokenizer = Tokenizers.load(tokenizerDir);
        PackedData train = PackedData.pack(CorpusReader.read(corpus, tokenizer), size.seq(), tokenizer.eosId());
        PackedData heldOut = PackedData.pack(CorpusReader.read(heldOutFile, tokenizer), size.seq(), tokenizer.eosId());
        log.printf(Locale.ROOT, "corpus: %,d tokens for the teacher, %,d in the students' transfer set, %,d held out; vocabulary %d%n",
                train.targetCount(), PackedData.pack(CorpusReader.read(transfer, tokenizer), size.seq(), tokenizer.eosId()).targetCount(),
                heldOut.targetCount(), tokenizer.vocabSize());

        log.printf(Locale.ROOT, "training the teacher: %d layers, dim %d, %d steps%n", size.layers(), size.dim(), size.teacherSteps());
        ResourceUse use = ScratchTeacher.train(train, heldOut, tokenizer.vocabSize(), new ScratchTeacher.Shape(size.dim(), size.layers(),
                size.heads(), size.kvHeads(), size.hidden(), size.seq()), size.teacherSteps(), size.batch(), size.seed(), 0, tokenizerDir,
                teacherRun, teacherDir, "demo teacher");
        return new Files(corpus, transfer, heldOutFile, tokenizerDir, teacherDir, teacherRun, use);
    }
}
