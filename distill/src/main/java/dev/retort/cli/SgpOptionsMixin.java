package dev.retort.cli;

import dev.retort.distill.MemoryPlan;
import dev.retort.distill.qa.ContextIndex;
import dev.retort.distill.qa.QaFormat;
import dev.retort.distill.qa.Sgp;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/** The Selective Generative Paradigm's flags, shared by {@code answer} and {@code eval-qa} ({@link Sgp}). */
final class SgpOptionsMixin {
    @Option(names = "--candidates", defaultValue = "5", description = "Contexts BM25 proposes for the student to judge (default ${DEFAULT-VALUE}).")
    int candidates;

    @Option(names = "--sgp-weight", defaultValue = "0.5",
            description = "Weight w of the normalised BM25 score against the student's (1 - w); 1 is BM25's top hit (default ${DEFAULT-VALUE}).")
    double bm25Weight;

    @Option(names = "--answer-weight", defaultValue = "1.0",
            description = "Weight of the student's answer log-likelihood beside its question log-likelihood (default ${DEFAULT-VALUE}).")
    double answerWeight;

    @Option(names = "--max-tokens", defaultValue = "16", description = "Longest answer generated, in tokens (default ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--memory-limit", description = "Refuse a run planned above this much memory, e.g. 8g (default: the memory available now).")
    String memoryLimit;

    /**
     * Refuses, before {@code model} loads, a run whose plan does not fit: the candidates generated together, each
     * the longest context of the index with the longest question and an answer of --max-tokens.
     */
    void requireMemory(Path model, ContextIndex index, java.util.Collection<String> questions) {
        int longestQuestion = questions.stream().mapToInt(q -> q.getBytes(java.nio.charset.StandardCharsets.UTF_8).length).max().orElse(0);
        String prompt = QaFormat.answerPrompt("x".repeat((int) Math.min(Integer.MAX_VALUE / 2, index.longestContextBytes())), "x".repeat(longestQuestion));
        MemoryPlan.generation(model, List.of(prompt), candidates, maxTokens)
                .requireWithin(MemoryPlan.limit(memoryLimit), "lower --candidates or --max-tokens, or raise --memory-limit");
    }

    Sgp.Options options() {
        return new Sgp.Options(candidates, bm25Weight, answerWeight, maxTokens);
    }
}
