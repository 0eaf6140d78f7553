package dev.retort.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.distill.qa.ContextIndex;
import dev.retort.distill.qa.QaEvaluation;
import dev.retort.models.Llm;
import dev.retort.tensor.ThreadPool;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code retort eval-qa --model STUDENT --index INDEX --data gold.jsonl [--teacher DIR]}: exact match, token F1
 * and retrieval accuracy of BM25 top-1 + student, SGP + student, and (with --teacher) BM25 top-1 + teacher
 * ({@link QaEvaluation}). Last line: {@code eval-qa: N questions; <pipeline> EM x F1 y retrieval z; …}.
 */
@Command(name = "eval-qa", mixinStandardHelpOptions = true,
        description = "Score QA pipelines (BM25 top-1 and SGP with the student, BM25 top-1 with the teacher) on gold questions.")
final class EvalQaCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--model", required = true, description = "The student's directory (Hugging Face layout) or GGUF file.")
    Path model;

    @Option(names = "--adapter", description = "Adapter for the student: PEFT LoRA, merged on load, or Retort bottleneck adapters, applied as modules.")
    Path adapter;

    @Option(names = "--teacher", description = "A teacher (directory or GGUF file) to score with BM25 top-1 as well.")
    Path teacher;

    @Option(names = "--index", required = true, description = "Index directory written by retort index.")
    Path index;

    @Option(names = "--data", required = true, description = "Gold questions: JSONL {\"question\", \"answer\", \"document\" or \"context_id\"}.")
    Path data;

    @Option(names = "--out", description = "Write every pipeline's answer to every question here (a new JSONL file).")
    Path out;

    @Mixin
    SgpOptionsMixin sgp;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        if (out != null && Files.exists(out)) throw new IllegalArgumentException("--out " + out + " already exists; choose a new file");
        List<QaEvaluation.Gold> gold = QaEvaluation.read(data);
        List<QaEvaluation.Run> runs = new ArrayList<>();
        try (ContextIndex idx = ContextIndex.open(index)) {
            List<String> asked = gold.stream().map(QaEvaluation.Gold::question).toList();
            if (teacher != null) sgp.requireMemory(teacher, idx, asked);
            sgp.requireMemory(model, idx, asked);
            if (teacher != null) {
                try (Llm t = Llm.open(teacher)) {
                    runs.add(QaEvaluation.bm25Top1("bm25+teacher", t, idx, gold, sgp.maxTokens));
                }
            }
            try (Llm s = Llm.open(model, adapter)) {
                runs.add(QaEvaluation.bm25Top1("bm25+student", s, idx, gold, sgp.maxTokens));
                runs.add(QaEvaluation.sgp("sgp+student", s, idx, gold, sgp.options()));
            }
        }
        if (out != null) {
            try (Writer w = Files.newBufferedWriter(out, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW)) {
                for (QaEvaluation.Run r : runs) {
                    for (QaEvaluation.Answered a : r.answers()) {
                        w.write(JSON.createObjectNode().put("pipeline", r.scores().pipeline()).put("question", a.gold().question())
                                .put("gold", a.gold().answer()).put("answer", a.answer()).put("context_id", a.contextId())
                                .put("exact_match", a.exactMatch()).put("f1", a.f1()).put("retrieved", a.retrieved()).toString());
                        w.write('\n');
                    }
                }
            }
        }
        System.out.println(QaEvaluation.Scores.header());
        StringBuilder last = new StringBuilder("eval-qa: " + gold.size() + " questions");
        for (QaEvaluation.Run r : runs) {
            QaEvaluation.Scores s = r.scores();
            System.out.println(s.row());
            last.append(String.format(Locale.ROOT, "; %s EM %.3f F1 %.3f retrieval %.3f", s.pipeline(), s.exactMatch(), s.f1(), s.retrieval()));
        }
        System.out.println(last);
        return 0;
    }
}
