package dev.retort.cli;

import dev.retort.distill.MemoryPlan;
import dev.retort.models.Llm;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code retort eval --model DIR --data FILE}: mean next-token cross-entropy and perplexity of a text file,
 * tokenized with BOS and cut into consecutive windows of the model's context length. Last line:
 * {@code tokens=N ce=X ppl=Y} (N = predicted tokens). {@code --adapter DIR} merges a PEFT LoRA adapter into
 * the model first, giving the numbers of the merged export, or attaches the bottleneck adapters there.
 */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Cross-entropy and perplexity of a model on a text file.")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    EvalOptions eval;

    @Override
    public Integer call() throws IOException {
        eval.applyThreads();
        String text = eval.text();
        eval.memoryPlan().requireWithin(MemoryPlan.limit(eval.memoryLimit()), EvalOptions.MEMORY_ADVICE);
        try (Llm llm = Llm.open(eval.model(), eval.adapter())) {
            int[] tokens = eval.tokens(llm, text);
            int window = eval.window(llm);
            System.out.println(llm.evaluate(tokens, window).line());
        }
        return 0;
    }
}
