package dev.retort.models.tokenizer;

import java.util.OptionalInt;

/**
 * A Llama-family tokenizer: text to token ids and back, computing exactly what the tokenizer's reference
 * implementation computes (Hugging Face {@code tokenizers} for a {@code tokenizer.json}, SentencePiece for a
 * {@code tokenizer.model}). Instances are immutable and safe to share between threads. Load one with
 * {@link Tokenizers#load}.
 */
public interface Tokenizer {

    /** Encodes text, adding BOS/EOS as the tokenizer's configuration says and recognising special-token text. */
    default int[] encode(String text) {
        return encode(text, addsBosByDefault(), addsEosByDefault(), SpecialTokenText.SPECIAL);
    }

    /**
     * Encodes a prompt as {@link #encode(String)} does, except that a text which already begins with the BOS
     * token's text (a conversation rendered by a chat template) gets no second BOS.
     */
    default int[] encodePrompt(String text) {
        boolean bosInText = bosId() >= 0 && text.startsWith(token(bosId()));
        return encode(text, addsBosByDefault() && !bosInText, addsEosByDefault(), SpecialTokenText.SPECIAL);
    }

    /** Encodes text, recognising special-token text such as {@code <|eot_id|>} as the special token. */
    default int[] encode(String text, boolean addBos, boolean addEos) {
        return encode(text, addBos, addEos, SpecialTokenText.SPECIAL);
    }

    /**
     * Encodes text.
     *
     * @param addBos put {@link #bosId()} first
     * @param addEos put {@link #eosId()} last
     * @param specialTokenText whether text that spells a special token becomes that token or is encoded as
     *     plain text (SentencePiece models always encode it as plain text, as SentencePiece does)
     * @throws IllegalStateException when BOS or EOS is asked for but the tokenizer has none
     */
    int[] encode(String text, boolean addBos, boolean addEos, SpecialTokenText specialTokenText);

    /** Decodes ids to text, leaving out special tokens (BOS, EOS, chat markers). */
    default String decode(int[] ids) {
        return decode(ids, true);
    }

    /**
     * Decodes ids to text. Bytes that do not form valid UTF-8 become U+FFFD as the reference does.
     *
     * @param skipSpecialTokens leave out special tokens; when false they appear as their text (SentencePiece
     *     models never show control tokens, as SentencePiece does not)
     * @throws IllegalArgumentException for an id outside the vocabulary
     */
    default String decode(int[] ids, boolean skipSpecialTokens) {
        TokenStreamDecoder decoder = streamDecoder(skipSpecialTokens);
        StringBuilder text = new StringBuilder();
        for (int id : ids) {
            text.append(decoder.next(id));
        }
        return text.append(decoder.finish()).toString();
    }

    /** A decoder for generation that leaves out special tokens: feed ids one at a time, get finished text. */
    default TokenStreamDecoder streamDecoder() {
        return streamDecoder(true);
    }

    /** A decoder for generation: feed ids one at a time, get the text they complete. */
    TokenStreamDecoder streamDecoder(boolean skipSpecialTokens);

    /** One more than the largest token id, added and special tokens included: the embedding rows needed. */
    int vocabSize();

    /** The beginning-of-sequence id, or -1 when the tokenizer has none. */
    int bosId();

    /** The end-of-sequence id, or -1 when the tokenizer has none. */
    int eosId();

    /** Whether {@link #encode(String)} puts BOS first. */
    boolean addsBosByDefault();

    /** Whether {@link #encode(String)} puts EOS last. */
    boolean addsEosByDefault();

    /** The vocabulary entry for an id, as the file spells it (e.g. {@code "▁the"}, {@code "Ġthe"}, {@code "<0x0A>"}, {@code "<s>"}). */
    String token(int id);

    /** The id of a vocabulary entry spelled as in the file, if there is one. */
    OptionalInt id(String token);
}
