package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DocumentWorld;
import dev.retort.distill.demo.ScratchTeacher;
import dev.retort.distill.qa.Contexts;
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
 * The setting the document-world experiments share: a {@link DocumentWorld} written as {@code docs.jsonl} (the
 * collection) and {@code gold.jsonl} (held-out gold questions, read only to evaluate), and a QA teacher trained
 * from scratch on another world's passages, questions and answers ({@link DocumentWorld#teacherCorpus}), so it
 * brings the skill and not the answers. The teacher is saved as a model directory {@code teacher/} with its
 * tokenizer.
 */
final class QaWorld {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The world's and the teacher's sizes. */
    record Size(int people, int goldQuestions, int teacherExamples, int vocab, int dim, int layers, int heads, int kvHeads,
                int hidden, int seq, int batch, int teacherSteps) {}

    /** What {@link #make} wrote: the two files, the teacher's directory and what training it cost. */
    record Made(Path docs, Path gold, Path teacher, ResourceUse teacherTraining) {}

    private QaWorld() {}

    /** The teacher's and tokenizer's directories (and the teacher's run) that {@link #make} replaces. */
    static final List<String> OWN_DIRECTORIES = List.of("teacher", "tokenizer", "teacher-run");

    /** Writes the world (seed 1) and trains the teacher in {@code out}, replacing what an earlier run left there. */
    static Made make(Path out, Size size, String experiment, PrintStream log) throws IOException {
        for (String previous : OWN_DIRECTORIES) OutputDirectory.fresh(out.resolve(previous));
        DocumentWorld world = new DocumentWorld(1, size.people());
        Path docs = out.resolve("docs.jsonl"), gold = out.resolve("gold.jsonl");
        writeWorld(world, size, docs, gold);
        ResourceUse use = trainTeacher(out, size, experiment, log);
        return new Made(docs, gold, out.resolve("teacher"), use);
    }

    private static void writeWorld(DocumentWorld world, Size size, Path docs, Path gold) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (Contexts.Document d : world.documents()) lines.append(JSON.createObjectNode().put("id", d.id()).put("text", d.text())).append('\n');
        Files.writeString(docs, lines, StandardCharsets.UTF_8);
        lines.setLength(0);
        for (DocumentWorld.Question q : world.goldQuestions(2, size.goldQuestions())) {
            lines.append(JSON.createObjectNode().put("question", q.question()).put("answer", q.answer()).put("document", q.document())).append('\n');
        }
        Files.writeString(gold, lines, StandardCharsets.UTF_8);
    }

    /** A teacher trained from scratch on another world's passages, questions and answers ({@link DocumentWorld#teacherCorpus}). */
    private static ResourceUse trainTeacher(Path out, Size size, String experiment, PrintStream log) throws IOException {
        DocumentWorld teacherWorld = new DocumentWorld(7919, size.people());
        Path corpus = out.resolve("teacher-corpus.txt"), heldOut = out.resolve("teacher-heldout.txt");
        String text = teacherWorld.teacherCorpus(3, size.teacherExamples());
        Files.writeString(corpus, text, StandardCharsets.UTF_8);
        Files.writeString(heldOut, teacherWorld.teacherCorpus(4, Math.max(40, size.teacherExamples() / 40)), StandardCharsets.UTF_8);
        Path tokenizerDir = out.resolve("tokenizer");
        BpeTrainer.train(text, size.vocab(), tokenizerDir);
        Tokenizer tokenizer = Tokenizers.load(tokenizerDir);
        PackedData train = PackedData.pack(CorpusReader.read(corpus, tokenizer), size.seq(), tokenizer.eosId());
        PackedData held = PackedData.pack(CorpusReader.read(heldOut, tokenizer), size.seq(), tokenizer.eosId());
        log.printf(Locale.ROOT, "%s: teacher of %d layers, dim %d, trained %d steps on %,d tokens%n",
                experiment, size.layers(), size.dim(), size.teacherSteps(), train.targetCount());
        return ScratchTeacher.train(train, held, tokenizer.vocabSize(), new ScratchTeacher.Shape(size.dim(), size.layers(), size.heads(),
                size.kvHeads(), size.hidden(), 2 * size.seq()), size.teacherSteps(), size.batch(), 1, Math.max(1, size.teacherSteps() / 4),
                tokenizerDir, out.resolve("teacher-run"), out.resolve("teacher"), "qa teacher");
    }
}
