package dev.retort.models.tokenizer;

/**
 * The state of one decoding pass: ids go in one at a time, final text comes out. Whole-text decoding and
 * {@link TokenStreamDecoder} share it, so the two cannot disagree.
 */
interface DecodingState {

    /** Appends to {@code out} the text that {@code id} completes; keeps what later ids may still change. */
    void push(int id, StringBuilder out);

    /** Appends what is still held back, as the reference decodes the end of a sequence. */
    void finish(StringBuilder out);
}
