package dev.retort.distill.synth;

import dev.retort.distill.data.JsonLines;
import dev.retort.models.tokenizer.ChatTemplate;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The prompts of a {@code generate-data} run: a {@code .jsonl} file of objects with a string {@code "prompt"}
 * (other fields, such as a dataset's own response, are ignored) or a conversation {@code "messages"} (rendered
 * with the model's chat template and its generation prompt; a last assistant turn is left out, to be written
 * anew), or any other file as plain text with one prompt per non-empty line.
 */
public final class PromptFile {
    private PromptFile() {}

    /**
     * One prompt: the text the model continues, and for a conversation its messages (null otherwise).
     */
    public record Prompt(String text, List<ChatTemplate.Message> conversation) {}

    public static List<Prompt> read(Path file, ChatTemplate template) throws IOException {
        String text = JsonLines.text(file);
        List<Prompt> prompts = new ArrayList<>();
        if (!file.getFileName().toString().endsWith(".jsonl")) {
            for (String line : text.lines().toList()) if (!line.isBlank()) prompts.add(new Prompt(line.strip(), null));
        } else {
            for (JsonLines.Line line : JsonLines.parse(file, text)) {
                if (line.object().has("messages")) {
                    List<ChatTemplate.Message> messages = new ArrayList<>(line.messages("messages"));
                    if (messages.getLast().role().equals("assistant")) messages.removeLast();
                    if (messages.isEmpty()) throw new IllegalArgumentException(line.where() + "the conversation has nothing before its assistant turn");
                    ChatTemplate chat = line.requireTemplate(template);
                    try {
                        prompts.add(new Prompt(chat.render(messages, true), List.copyOf(messages)));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException(line.where() + e.getMessage());
                    }
                } else {
                    prompts.add(new Prompt(line.string("prompt"), null));
                }
            }
        }
        if (prompts.isEmpty()) throw new IllegalArgumentException("--prompts " + file + ": no prompts (the file is empty)");
        return prompts;
    }
}
