package dev.retort.models.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * A tokenizer from a Hugging Face {@code tokenizer.json}, encoding as HF {@code tokenizers} does: added
 * tokens are cut out of the raw text first, each remaining piece is normalized (then cut at normalized added
 * tokens), pre-tokenized into words, and each word is encoded by {@link MergeRankBpe}. Read one with
 * {@link HuggingFaceTokenizerReader}.
 */
final class HuggingFaceTokenizer implements Tokenizer {

    /** The parts a {@code tokenizer.json} (and its {@code tokenizer_config.json}) describe. */
    record Parts(String[] tokenById, Map<String, Integer> idByToken, AddedTokenSplitter rawAddedTokens,
            AddedTokenSplitter normalizedAddedTokens, TextNormalizer normalizer, PreTokenizer preTokenizer,
            MergeRankBpe model, HuggingFaceDecoding decoding, int bosId, int eosId, boolean addsBos,
            boolean addsEos) {}

    private final Parts parts;

    HuggingFaceTokenizer(Parts parts) {
        this.parts = parts;
    }

    @Override
    public int[] encode(String text, boolean addBos, boolean addEos, SpecialTokenText specialTokenText) {
        boolean specialAsText = specialTokenText == SpecialTokenText.PLAIN;
        IntList ids = new IntList();
        if (addBos) {
            ids.add(requirePresent(parts.bosId(), "BOS"));
        }
        int offset = 0;
        List<PreTokenizer.Piece> words = new ArrayList<>();
        for (AddedTokenSplitter.Segment raw : parts.rawAddedTokens().split(text, specialAsText)) {
            boolean atInputStart = offset == 0;
            offset += raw.text().length();
            if (raw.isToken()) {
                ids.add(raw.tokenId());
                continue;
            }
            String normalized = parts.normalizer().apply(raw.text());
            boolean first = true;
            for (AddedTokenSplitter.Segment piece : parts.normalizedAddedTokens().split(normalized, specialAsText)) {
                if (piece.isToken()) {
                    ids.add(piece.tokenId());
                } else {
                    words.clear();
                    PreTokenizer.Piece whole = new PreTokenizer.Piece(piece.text(), atInputStart && first);
                    if (parts.preTokenizer() == null) {
                        words.add(whole);
                    } else {
                        parts.preTokenizer().split(whole, words);
                    }
                    for (PreTokenizer.Piece word : words) {
                        parts.model().tokenize(word.text(), ids);
                    }
                }
                first = false;
            }
        }
        if (addEos) {
            ids.add(requirePresent(parts.eosId(), "EOS"));
        }
        return ids.toArray();
    }

    private static int requirePresent(int id, String what) {
        if (id < 0) {
            throw new IllegalStateException("this tokenizer has no " + what + " token");
        }
        return id;
    }

    @Override
    public TokenStreamDecoder streamDecoder(boolean skipSpecialTokens) {
        return new TokenStreamDecoder(parts.decoding().newState(skipSpecialTokens));
    }

    @Override
    public int vocabSize() {
        return parts.tokenById().length;
    }

    @Override
    public int bosId() {
        return parts.bosId();
    }

    @Override
    public int eosId() {
        return parts.eosId();
    }

    @Override
    public boolean addsBosByDefault() {
        return parts.addsBos();
    }

    @Override
    public boolean addsEosByDefault() {
        return parts.addsEos();
    }

    @Override
    public String token(int id) {
        String token = id >= 0 && id < parts.tokenById().length ? parts.tokenById()[id] : null;
        if (token == null) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (ids 0.."
                    + (parts.tokenById().length - 1) + ")");
        }
        return token;
    }

    @Override
    public OptionalInt id(String token) {
        Integer id = parts.idByToken().get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }
}
