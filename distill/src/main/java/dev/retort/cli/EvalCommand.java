package dev.retort.cli;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.tensor.ThreadPool;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code retort eval --model DIR --data FILE}: mean next-token cross-entropy and perplexity of a text file,
 * tokenized with BOS and cut into consecutive windows of the model's context length. Last line:
 * {@code tokens=N ce=X ppl=Y} (N = predicted tokens).
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Cross-entropy and perplexity of a model on a text file.")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "Model directory.")
    Path model;

    @Option(names = "--data", required = true, description = "UTF-8 text file.")
    Path data;

    @Option(names = "--seq-len", description = "Window length (default: the model's max_position_embeddings).")
    Integer seqLen;

    @Option(names = "--threads", description = "Threads (default: all processors).")
    Integer threads;

    @Override
    public Integer call() throws IOException {
        if (threads != null) ThreadPool.setSharedThreads(threads);
        if (!Files.isRegularFile(data)) throw new IllegalArgumentException("--data " + data + ": no such file");
        String text = Files.readString(data, StandardCharsets.UTF_8);
        try (LoadedModel m = LoadedModel.open(model); BufferPool pool = new BufferPool()) {
            int[] tokens = m.tokenizer.encode(text);
            int window = seqLen != null ? seqLen : m.config.maxPositionEmbeddings();
            if (window < 1 || window > m.config.maxPositionEmbeddings()) {
                throw new IllegalArgumentException("--seq-len must be in [1, " + m.config.maxPositionEmbeddings() + "], got " + window);
            }
            if (tokens.length < 2) throw new IllegalArgumentException(data + ": fewer than two tokens, nothing to predict");
            double totalLoss = 0;
            long predicted = 0;
            for (int start = 0; start + 1 < tokens.length; start += window) {
                int n = Math.min(window, tokens.length - 1 - start);
                int[] input = Arrays.copyOfRange(tokens, start, start + n);
                int[] targets = Arrays.copyOfRange(tokens, start + 1, start + 1 + n);
                try (Graph g = Graph.noGrad(pool)) {
                    totalLoss += (double) m.model.loss(g, input, targets, 1, n, 1.0).item();  // divisor 1: the sum
                }
                predicted += n;
            }
            double ce = totalLoss / predicted;
            System.out.printf(Locale.ROOT, "tokens=%d ce=%.4f ppl=%.3f%n", predicted, ce, Math.exp(ce));
        }
        return 0;
    }
}
