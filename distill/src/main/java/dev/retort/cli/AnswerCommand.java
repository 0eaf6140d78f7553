package dev.retort.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.retort.distill.data.JsonLines;
import dev.retort.distill.qa.ContextIndex;
import dev.retort.distill.qa.Sgp;
import dev.retort.models.Llm;
import dev.retort.tensor.ThreadPool;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort answer --model STUDENT --index INDEX --question TEXT}: BM25 proposes contexts, the student judges
 * them ({@link Sgp}) and answers from the chosen one. Each answered question is one JSON line: the question, the
 * chosen {@code context_id}, the {@code answer}, and every candidate's scores. With {@code --questions FILE.jsonl}
 * (lines with a {@code "question"}; an {@code "id"} is copied) it answers them all, to {@code --out} or standard output.
 */
@Command(name = "answer", mixinStandardHelpOptions = true,
        description = "Answer questions from a document index: BM25 candidates, chosen by the student (SGP).")
final class AnswerCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, description = "The answering model's directory (Hugging Face layout) or GGUF file.")
    Path model;

    @Option(names = "--adapter", description = "Adapter for the model: PEFT LoRA, merged on load, or Retort bottleneck adapters, applied as modules.")
    Path adapter;

    @Option(names = "--index", required = true, description = "Index directory written by retort index.")
    Path index;

    @ArgGroup(multiplicity = "1")
    Questions questions;

    static final class Questions {
        @Option(names = "--question", description = "One question.")
        String question;

        @Option(names = "--questions", description = "A JSONL file of {\"question\"} lines to answer in turn.")
        Path file;
    }

    @Option(names = "--out", description = "With --questions: write the answers here (a new file) instead of standard output.")
    Path out;

    @Mixin
    SgpOptionsMixin sgp;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        if (out != null && questions.file == null) throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--out goes with --questions");
        if (out != null && Files.exists(out)) throw new IllegalArgumentException("--out " + out + " already exists; choose a new file");
        Sgp.Options options = sgp.options();
        var lines = questions.file == null ? null : JsonLines.parse(questions.file, JsonLines.text(questions.file));
        if (lines != null) for (var line : lines) line.string("question");   // every line checked before the model loads
        try (ContextIndex idx = ContextIndex.open(index)) {
            sgp.requireMemory(model, idx, lines == null ? List.of(questions.question) : lines.stream().map(l -> l.string("question")).toList());
            answer(idx, lines, options);
        }
        return 0;
    }

    private void answer(ContextIndex idx, List<JsonLines.Line> lines, Sgp.Options options) throws IOException {
        try (Llm llm = Llm.open(model, adapter);
             Writer w = out == null ? new OutputStreamWriter(System.out, StandardCharsets.UTF_8)
                     : Files.newBufferedWriter(out, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW)) {
            if (lines == null) {
                write(w, null, Sgp.answer(llm, idx, questions.question, options));
            } else {
                for (var line : lines) {
                    write(w, line.object().get("id"), Sgp.answer(llm, idx, line.string("question"), options));
                }
            }
            w.flush();
        }
    }

    private static void write(Writer w, com.fasterxml.jackson.databind.JsonNode id, Sgp.Answer a) throws IOException {
        ObjectNode line = JSON.createObjectNode();
        if (id != null) line.set("id", id);
        line.put("question", a.question());
        line.put("context_id", a.chosen() == null ? null : a.chosen().hit().context().id());
        line.put("answer", a.chosen() == null ? "" : a.chosen().answer());
        ArrayNode candidates = line.putArray("candidates");
        for (Sgp.Candidate c : a.candidates()) {
            candidates.addObject().put("context_id", c.hit().context().id()).put("bm25", c.hit().score())
                    .put("question_score", c.questionScore()).put("answer_score", c.answerScore())
                    .put("combined", c.combined()).put("answer", c.answer());
        }
        w.write(line.toString());
        w.write('\n');
        w.flush();
    }
}
