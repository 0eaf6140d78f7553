package dev.retort.models.tokenizer;

/**
 * An entry of {@code added_tokens} in a {@code tokenizer.json}: text matched whole in the input before the
 * BPE model sees it.
 *
 * @param special a control token (BOS, EOS, chat markers), left out by decoding that skips special tokens
 * @param singleWord only matched when not inside a word
 * @param lstrip the match also takes the whitespace before it
 * @param rstrip the match also takes the whitespace after it
 * @param normalized matched in the normalized text rather than the raw input
 */
record AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip, boolean rstrip,
        boolean normalized) {}
