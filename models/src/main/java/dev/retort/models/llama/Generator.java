package dev.retort.models.llama;

import dev.retort.models.tokenizer.TokenStreamDecoder;
import dev.retort.models.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Text generation: prompt → tokens → KV-cache inference → sampled tokens, streamed as text as they come.
 *
 * <p>Several prompts are generated together ({@link #generate(List, int, Listener)}): up to {@code batchSize}
 * sequences share one {@link LlamaInference} session, each decode step feeds one token of every running
 * sequence in one pass over the weights, and a sequence that finishes hands its slot to the next prompt
 * (continuous batching). Each sequence's logits are bitwise those of generating it alone and each has its own
 * seeded {@link Sampler}, so a prompt's text depends on its prompt and seed only, never on the batch size, its
 * neighbours or the thread count.
 *
 * <p>The text of a generation continues its prompt: it is decoded after the prompt's tokens, so a leading space
 * stays ("Once" then " upon a time", not "upon a time").
 */
public final class Generator {
    /** Prompt tokens fed per pass when filling a sequence's cache. */
    private static final int PREFILL_CHUNK = 64;

    private final LlamaModel model;
    private final Tokenizer tokenizer;             // null: token ids only, no text
    private final Set<Integer> stopIds = new HashSet<>();

    public Generator(LlamaModel model, Tokenizer tokenizer) {
        this(model, tokenizer, tokenizer.eosId());
    }

    private Generator(LlamaModel model, Tokenizer tokenizer, int eosId) {
        this.model = model;
        this.tokenizer = tokenizer;
        stopIds.addAll(model.config().eosTokenIds());
        if (eosId >= 0) stopIds.add(eosId);
    }

    /**
     * A generator of token ids only (results have empty text and stop strings are not available): what on-policy
     * distillation needs, without decoding text it never reads. {@code eosId} (or the config's) ends a sequence;
     * -1 for none beyond the config's.
     */
    public static Generator tokensOnly(LlamaModel model, int eosId) {
        return new Generator(model, null, eosId);
    }

    /** Why a generation ended. */
    public enum Finish {
        /** The model wrote an end-of-sequence token (not part of the result). */
        EOS,
        /** The text reached one of the stop strings (cut off before it). */
        STOP_STRING,
        /** It reached the most tokens allowed (or the model's context). */
        LENGTH
    }

    /**
     * What a generation produced; {@code eosToken} is the end-of-sequence id the model wrote (finish EOS; -1
     * otherwise), which is not in {@code generated}; {@code seconds} runs from its prompt's first pass to its last token.
     */
    public record Result(int promptTokens, int[] generated, String text, Finish finish, int eosToken, double seconds) {
        public boolean stoppedAtEos() {
            return finish == Finish.EOS;
        }

        public double tokensPerSecond() {
            return generated.length / Math.max(seconds, 1e-9);
        }
    }

    /**
     * One sequence to generate.
     *
     * @param prompt    token ids (at least one; {@link #promptIds} makes them from text)
     * @param maxTokens most tokens to generate
     * @param sampler   this sequence's own sampler (it carries its random state)
     * @param stops     strings that end the generation when the text reaches them (the text stops before them)
     */
    public record Request(int[] prompt, int maxTokens, Sampler sampler, List<String> stops) {
        public Request {
            if (prompt.length == 0) throw new IllegalArgumentException("a generation needs at least one prompt token");
            if (maxTokens < 0) throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
            stops = List.copyOf(stops);
            for (String s : stops) if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
        }
    }

    /** Receives the text of sequence {@code index} (its position in the request list) piece by piece. */
    @FunctionalInterface
    public interface Listener {
        void text(int index, String piece);
    }

    /**
     * The prompt's token ids: its encoding with BOS as the tokenizer says (no second one when a chat template
     * already wrote it), or BOS alone for an empty prompt.
     */
    public int[] promptIds(String prompt) {
        if (tokenizer == null) throw new IllegalStateException("a tokens-only generator takes prompts as token ids");
        int[] ids = tokenizer.encodePrompt(prompt);
        if (ids.length > 0) return ids;
        if (tokenizer.bosId() < 0) throw new IllegalArgumentException("empty prompt and the tokenizer has no BOS token");
        return new int[] {tokenizer.bosId()};
    }

    /**
     * Generates up to {@code maxTokens} tokens after {@code prompt} (an empty prompt starts from BOS), calling
     * {@code onText} with each piece of text as soon as it is complete. Stops at an end-of-sequence token.
     */
    public Result generate(String prompt, int maxTokens, Sampler sampler, Consumer<String> onText) {
        return generate(List.of(new Request(promptIds(prompt), maxTokens, sampler, List.of())), 1,
                (index, piece) -> onText.accept(piece)).getFirst();
    }

    /** Generates every request, {@code batchSize} sequences at a time; results in request order. */
    public List<Result> generate(List<Request> requests, int batchSize, Listener onText) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        int context = model.config().maxPositionEmbeddings();
        long longest = 1, longestPruned = 1;
        for (Request r : requests) {
            if (r.prompt().length >= context) {
                throw new IllegalArgumentException("the prompt has " + r.prompt().length + " tokens; the model's context is " + context);
            }
            longest = Math.max(longest, (long) r.prompt().length + r.maxTokens());
            longestPruned = Math.max(longestPruned, (long) LlamaInference.prunedRows(model, r.prompt().length, 0) + r.maxTokens());
        }
        Result[] results = new Result[requests.size()];
        if (requests.isEmpty()) return List.of();
        int capacity = (int) Math.min(context, longest);
        int slots = Math.min(batchSize, requests.size());
        // with token pruning the layers after it cache only each prompt's kept tokens and the new ones
        int prunedCapacity = (int) Math.min(capacity, longestPruned);
        try (LlamaInference inference = new LlamaInference(model, slots, capacity, PREFILL_CHUNK, prunedCapacity)) {
            Sequence[] running = new Sequence[slots];
            int next = 0;
            while (true) {
                // Free slots take the next prompts; a sequence may end at its first token.
                for (int slot = 0; slot < slots; slot++) {
                    while (running[slot] == null && next < requests.size()) {
                        Sequence s = new Sequence(next, requests.get(next), capacity, onText);
                        next++;
                        inference.reset(slot);
                        inference.forward(slot, s.request.prompt());
                        if (s.accept(inference, slot)) results[s.index] = s.result();
                        else running[slot] = s;
                    }
                }
                int[] active = new int[slots], tokens = new int[slots];
                int n = 0;
                for (int slot = 0; slot < slots; slot++) {
                    if (running[slot] != null) {
                        active[n] = slot;
                        tokens[n++] = running[slot].last();
                    }
                }
                if (n == 0) break;
                inference.decode(Arrays.copyOf(active, n), Arrays.copyOf(tokens, n));
                for (int i = 0; i < n; i++) {
                    Sequence s = running[active[i]];
                    if (s.accept(inference, active[i])) {
                        results[s.index] = s.result();
                        running[active[i]] = null;
                    }
                }
            }
        }
        return List.of(results);
    }

    /** One running generation: its tokens so far, its text and what of it has been handed out. */
    private final class Sequence {
        final int index;
        final Request request;
        final int limit;                     // tokens it may generate
        final int[] context;                 // prompt, then the generated tokens
        final TokenStreamDecoder decoder;    // null for a tokens-only generator
        final StringBuilder text = new StringBuilder();
        final Listener onText;
        final int holdBack;                  // characters kept back while they may begin a stop string
        final long start = System.nanoTime();
        int generated, emitted;
        int eosToken = -1;
        Finish finish;

        Sequence(int index, Request request, int capacity, Listener onText) {
            this.index = index;
            this.request = request;
            this.limit = Math.min(request.maxTokens(), capacity - request.prompt().length);
            this.context = Arrays.copyOf(request.prompt(), request.prompt().length + limit);
            this.onText = onText;
            this.holdBack = request.stops().stream().mapToInt(String::length).max().orElse(1) - 1;
            this.decoder = tokenizer == null ? null : tokenizer.streamDecoder();
            if (decoder == null && !request.stops().isEmpty()) throw new IllegalArgumentException("stop strings need a tokenizer");
            if (decoder != null) for (int id : request.prompt()) decoder.next(id);   // the text continues the prompt's
        }

        int last() {
            return context[request.prompt().length + generated - 1];
        }

        /** Samples the next token from this sequence's logits in {@code slot}; returns whether it has finished. */
        boolean accept(LlamaInference inference, int slot) {
            if (generated == limit) return finish(Finish.LENGTH);
            int length = request.prompt().length + generated;
            int token = request.sampler().sample(inference.logits(slot), context, length);
            if (stopIds.contains(token)) {
                eosToken = token;
                return finish(Finish.EOS);
            }
            context[length] = token;
            generated++;
            if (decoder != null && append(decoder.next(token))) return true;
            emit(text.length() - holdBack);
            return generated == limit && finish(Finish.LENGTH);
        }

        /** Adds text; returns true (and finishes) when it reaches a stop string. */
        private boolean append(String piece) {
            int from = Math.max(0, text.length() - holdBack);
            text.append(piece);
            for (String stop : request.stops()) {
                int at = text.indexOf(stop, from);
                if (at >= 0) {
                    text.setLength(at);
                    finish = Finish.STOP_STRING;
                    emit(text.length());
                    return true;
                }
            }
            return false;
        }

        private boolean finish(Finish why) {
            if (decoder == null || !append(decoder.finish())) {
                finish = why;
                emit(text.length());
            }
            return true;
        }

        private void emit(int upTo) {
            if (upTo > emitted && upTo < text.length() && Character.isHighSurrogate(text.charAt(upTo - 1))) upTo--;
            if (upTo > emitted) {
                onText.text(index, text.substring(emitted, upTo));
                emitted = upTo;
            }
        }

        Result result() {
            int[] tokens = Arrays.copyOfRange(context, request.prompt().length, request.prompt().length + generated);
            return new Result(request.prompt().length, tokens, text.toString(), finish, eosToken, (System.nanoTime() - start) / 1e9);
        }
    }
}
