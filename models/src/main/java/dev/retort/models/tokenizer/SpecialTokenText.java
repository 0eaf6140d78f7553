package dev.retort.models.tokenizer;

/** What {@link Tokenizer#encode} makes of text that spells a special token, such as {@code <|eot_id|>}. */
public enum SpecialTokenText {
    /** The text becomes the special token (Hugging Face's default). */
    SPECIAL,
    /** The text is encoded like any other text (for user input that must not inject control tokens). */
    PLAIN
}
