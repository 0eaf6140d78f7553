package dev.retort.distill.experiment;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.OutputDirectory;
import dev.retort.distill.data.CorpusReader;
import dev.retort.distill.data.PackedData;
import dev.retort.distill.demo.BpeTrainer;
import dev.retort.distill.demo.DocumentWorld;
import dev.retort.distill.method.Phase;
import dev.retort.distill.method.Plan;
import dev.retort.distill.options.OutputOptions;
import dev.retort.distill.qa.Contexts;
import dev.retort.distill.train.ResourceUse;
import dev.retort.distill.train.SftObjective;
import dev.retort.distill.train.Trainer;
import dev.retort.distill.train.TrainingConfig;
import dev.retort.models.export.ModelExporter;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.llama.LlamaModel;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
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
        LlamaConfig config = new LlamaConfig(size.dim(), size.hidden(), size.layers(), size.heads(), size.kvHeads(),
                size.dim() / size.heads(), tokenizer.vocabSize(), 2 * size.seq(), 1e-5, 10000.0, null, true,
                1, List.of(2), false, false, DType.F32);
        log.printf(Locale.ROOT, "%s: teacher of %d layers, dim %d, trained %d steps on %,d tokens%n",
                experiment, size.layers(), size.dim(), size.teacherSteps(), train.targetCount());
        try (Arena arena = Arena.ofShared()) {
            LlamaModel teacher = LlamaModel.random(config, arena, 1);
            TrainingConfig tc = TrainingConfig.DEFAULTS.withSteps(size.teacherSteps(), size.batch(), 3e-3, 3e-4, size.teacherSteps() / 20)
                    .withSeed(1).withEvaluation(Math.max(1, size.teacherSteps() / 4), 4, 0);
            Phase sft = Phase.standard("sft", new SftObjective(teacher), teacher.trainableParameters(), tc, train);
            Trainer.Result r = new Trainer(tc, Plan.of(sft, null), teacher, null, held, "qa teacher",
                    new OutputOptions(out.resolve("teacher-run"), false, true)).run(false);
            ModelExporter.save(teacher, null, tokenizerDir, out.resolve("teacher"), DType.F32);
            return r.resources();
        }
    }
}
