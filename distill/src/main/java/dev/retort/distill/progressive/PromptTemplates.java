package dev.retort.distill.progressive;

import java.util.List;

/**
 * The prompt templates the unlabelled inputs are put into: each a text with one {@code {input}} where the input
 * goes. Without --prompt-templates the pool is the input alone.
 */
final class PromptTemplates {
    static final String SLOT = "{input}";
    private final List<String> templates;

    PromptTemplates(List<String> templates) {
        if (templates.isEmpty()) throw new IllegalArgumentException("no prompt templates");
        this.templates = List.copyOf(templates);
    }

    /** The pool of one template, the input as it is. */
    static PromptTemplates identity() {
        return new PromptTemplates(List.of(SLOT));
    }

    int size() {
        return templates.size();
    }

    /** Template {@code k} with {@code input} in its slot. */
    String render(int k, String input) {
        return templates.get(k).replace(SLOT, input);
    }

    /** The template of row {@code row} of micro-batch {@code index}. */
    int choose(long index, int row) {
        return 0;
    }
}
