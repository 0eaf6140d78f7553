package dev.retort.distill.data;

import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads training data into tokenized {@link Example}s:
 * <ul>
 *   <li>plain text ({@code .txt} or anything not {@code .jsonl}): paragraphs separated by blank lines are the
 *       examples, each encoded with BOS (as the tokenizer config says) and closed with EOS;
 *   <li>JSONL ({@link JsonLines}), one object per line, in the formats TRL reads:
 *     <ul>
 *       <li>{@code {"text": …}}: as a paragraph;
 *       <li>{@code {"prompt": …, "response": …}} or {@code {"prompt": …, "completion": …}}: tokenized together,
 *           only the response tokens (and the closing EOS) are trained on;
 *       <li>{@code {"messages": [{"role": …, "content": …}, …]}}, or prompt and completion as such lists: the
 *           conversation rendered with the model's chat template ({@link ChatTemplate}), trained on the
 *           assistant turns only.
 *     </ul>
 * </ul>
 *
 * <p>Assistant-only loss: for each assistant turn i the template renders the conversation before it with the
 * generation prompt and the conversation through it; the text between the two is the turn (its content and the
 * template's end-of-turn marker), whose tokens are the targets. The pieces are tokenized one after another, so a
 * template whose rendering of a prefix is not a prefix of the whole is refused, naming the line.
 */
public final class CorpusReader {
    private CorpusReader() {}

    /** Data without conversations (a conversational line is refused: it needs a chat template). */
    public static List<Example> read(Path file, Tokenizer tokenizer) throws IOException {
        return read(file, tokenizer, null);
    }

    /** Data whose conversations render with {@code template} (null: the model has none). */
    public static List<Example> read(Path file, Tokenizer tokenizer, ChatTemplate template) throws IOException {
        String text = JsonLines.text(file);
        String name = file.getFileName().toString();
        List<Example> examples = name.endsWith(".jsonl") ? readJsonl(file, text, tokenizer, template) : readText(text, tokenizer);
        if (examples.isEmpty()) throw new IllegalArgumentException(file + ": no examples (the file is empty)");
        return examples;
    }

    private static List<Example> readText(String text, Tokenizer tokenizer) {
        text = text.replace("\r\n", "\n");
        List<Example> examples = new ArrayList<>();
        for (String paragraph : text.split("\n\\s*\n")) {
            String p = paragraph.strip();
            if (!p.isEmpty()) examples.add(Example.plain(withEos(tokenizer.encode(p), tokenizer)));
        }
        return examples;
    }

    private static List<Example> readJsonl(Path file, String text, Tokenizer tokenizer, ChatTemplate template) {
        List<Example> examples = new ArrayList<>();
        for (JsonLines.Line line : JsonLines.parse(file, text)) {
            var node = line.object();
            String answerKey = node.has("response") ? "response" : "completion";
            if (node.has("text")) {
                examples.add(Example.plain(withEos(tokenizer.encode(line.string("text")), tokenizer)));
            } else if (node.has("messages")) {
                examples.add(conversation(line, line.messages("messages"), tokenizer, template));
            } else if (node.has("prompt") && node.has(answerKey) && node.get("prompt").isArray()) {
                List<ChatTemplate.Message> all = new ArrayList<>(line.messages("prompt"));
                all.addAll(line.messages(answerKey));
                examples.add(conversation(line, all, tokenizer, template));
            } else if (node.has("prompt") && node.has(answerKey)) {
                examples.add(promptCompletion(line.string("prompt"), line.string(answerKey), tokenizer));
            } else {
                throw new IllegalArgumentException(line.where() + "expected {\"text\": …}, {\"prompt\": …, \"response\"|\"completion\": …} "
                        + "or {\"messages\": [{\"role\": …, \"content\": …}, …]}");
            }
        }
        return examples;
    }

    /**
     * A prompt and its completion tokenized together, as TRL does: the tokens of {@code prompt + completion} (and
     * EOS), trained on from the first token where they part from the prompt's own tokens. Tokenized apart, a
     * completion would not be split as the model sees it after its prompt — with a SentencePiece-style tokenizer
     * {@code " cat"} alone becomes "▁" + "▁cat" where after {@code "answer:"} it is "▁cat" — and the student would
     * learn a split that neither its teacher nor its own generation ever produces.
     */
    static Example promptCompletion(String prompt, String completion, Tokenizer tokenizer) {
        int[] promptTokens = tokenizer.encodePrompt(prompt);
        int[] tokens = withEos(tokenizer.encodePrompt(prompt + completion), tokenizer);
        int boundary = 0;
        while (boundary < promptTokens.length && boundary < tokens.length && promptTokens[boundary] == tokens[boundary]) boundary++;
        boolean[] target = new boolean[tokens.length];
        for (int t = boundary; t < tokens.length; t++) target[t] = true;
        return new Example(tokens, target);
    }

    /** A conversation's tokens, the assistant turns as targets. */
    private static Example conversation(JsonLines.Line line, List<ChatTemplate.Message> messages, Tokenizer tokenizer, ChatTemplate template) {
        line.requireTemplate(template);
        List<Integer> tokens = new ArrayList<>();
        List<Boolean> target = new ArrayList<>();
        String rendered = "";
        for (int i = 0; i < messages.size(); i++) {
            if (!messages.get(i).role().equals("assistant")) continue;
            String before = render(line, template, messages.subList(0, i), true);
            String through = render(line, template, messages.subList(0, i + 1), false);
            rendered = append(line, tokenizer, tokens, target, rendered, before, false);
            rendered = append(line, tokenizer, tokens, target, rendered, through, true);
        }
        append(line, tokenizer, tokens, target, rendered, render(line, template, messages, false), false);
        if (!target.contains(true)) throw new IllegalArgumentException(line.where() + "the conversation has no assistant turn to train on");
        int[] ids = new int[tokens.size()];
        boolean[] flags = new boolean[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = tokens.get(i);
            flags[i] = target.get(i);
        }
        return new Example(ids, flags);
    }

    /** Tokens of {@code next} past what is already {@code rendered}; returns {@code next}. */
    private static String append(JsonLines.Line line, Tokenizer tokenizer, List<Integer> tokens, List<Boolean> target,
                                 String rendered, String next, boolean isTarget) {
        if (!next.startsWith(rendered)) {
            throw new IllegalArgumentException(line.where() + "the chat template renders a conversation's beginning differently from the whole, "
                    + "so its assistant turns cannot be told apart");
        }
        for (int id : tokenizer.encode(next.substring(rendered.length()), false, false)) {
            tokens.add(id);
            target.add(isTarget);
        }
        return next;
    }

    private static String render(JsonLines.Line line, ChatTemplate template, List<ChatTemplate.Message> messages, boolean generationPrompt) {
        try {
            return template.render(messages, generationPrompt);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(line.where() + e.getMessage());
        }
    }

    private static int[] withEos(int[] tokens, Tokenizer tokenizer) {
        if (tokenizer.eosId() < 0) return tokens;
        int[] out = java.util.Arrays.copyOf(tokens, tokens.length + 1);
        out[tokens.length] = tokenizer.eosId();
        return out;
    }
}
