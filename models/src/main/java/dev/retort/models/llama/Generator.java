package dev.retort.models.llama;

import dev.retort.models.tokenizer.TokenStreamDecoder;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.tensor.Tensor;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Consumer;

/** Text generation: prompt → tokens → KV-cache inference → sampled tokens, streamed as text as they come. */
public final class Generator {
    private final LlamaModel model;
    private final Tokenizer tokenizer;
    private final Set<Integer> stopIds = new HashSet<>();

    public Generator(LlamaModel model, Tokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
        stopIds.addAll(model.config().eosTokenIds());
        if (tokenizer.eosId() >= 0) stopIds.add(tokenizer.eosId());
    }

    /** What a generation produced. */
    public record Result(int promptTokens, int[] generated, String text, boolean stoppedAtEos, double seconds) {
        public double tokensPerSecond() {
            return generated.length / Math.max(seconds, 1e-9);
        }
    }

    /**
     * Generates up to {@code maxTokens} tokens after {@code prompt} (an empty prompt starts from BOS), calling
     * {@code onText} with each piece of text as soon as it is complete. Stops at an end-of-sequence token.
     */
    public Result generate(String prompt, int maxTokens, Sampler sampler, Consumer<String> onText) {
        int[] promptIds = tokenizer.encode(prompt);
        if (promptIds.length == 0) {
            if (tokenizer.bosId() < 0) throw new IllegalArgumentException("empty prompt and the tokenizer has no BOS token");
            promptIds = new int[] {tokenizer.bosId()};
        }
        int capacity = (int) Math.min(model.config().maxPositionEmbeddings(), (long) promptIds.length + Math.max(0, maxTokens));
        if (promptIds.length >= model.config().maxPositionEmbeddings()) {
            throw new IllegalArgumentException("the prompt has " + promptIds.length + " tokens; the model's context is "
                    + model.config().maxPositionEmbeddings());
        }
        TokenStreamDecoder decoder = tokenizer.streamDecoder();
        StringBuilder text = new StringBuilder();
        int[] generated = new int[Math.max(0, Math.min(maxTokens, capacity - promptIds.length))];
        int count = 0;
        boolean eos = false;
        long start = System.nanoTime();
        try (LlamaInference inference = new LlamaInference(model, capacity, 64)) {
            Tensor logits = inference.forward(promptIds);
            while (count < generated.length) {
                int next = sampler.sample(logits);
                if (stopIds.contains(next)) {
                    eos = true;
                    break;
                }
                generated[count++] = next;
                String piece = decoder.next(next);
                if (!piece.isEmpty()) {
                    text.append(piece);
                    onText.accept(piece);
                }
                if (count < generated.length) logits = inference.forward(new int[] {next});
            }
        }
        String tail = decoder.finish();
        if (!tail.isEmpty()) {
            text.append(tail);
            onText.accept(tail);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new Result(promptIds.length, java.util.Arrays.copyOf(generated, count), text.toString(), eos, seconds);
    }
}
