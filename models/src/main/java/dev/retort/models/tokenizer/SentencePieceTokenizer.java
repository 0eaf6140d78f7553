package dev.retort.models.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A tokenizer from a SentencePiece BPE {@code tokenizer.model}, encoding and decoding as SentencePiece
 * itself does (not as HF's converted {@code tokenizer.json}, which differs where the model removes extra
 * whitespace). Encoding: the identity normalizer (spaces become "▁", a "▁" is put first, and runs of spaces
 * collapse when {@code remove_extra_whitespaces} is set), then BPE that repeatedly merges the adjacent pair
 * whose joined piece has the highest score, leftmost first; a piece outside the vocabulary becomes its
 * UTF-8 bytes as {@code <0xXX>} pieces when byte fallback is on, else one unknown id per run.
 */
final class SentencePieceTokenizer implements Tokenizer {

    private static final char SPACE_SYMBOL = '\u2581';

    private final SentencePieceModel model;
    private final String[] pieceText;
    private final float[] score;
    private final int[] type;
    private final Map<String, Integer> mergeablePieces = new HashMap<>(); // NORMAL, USER_DEFINED, UNUSED
    private final Map<String, Integer> reservedPieces = new HashMap<>();  // UNKNOWN, CONTROL, BYTE
    private final List<String> userDefinedLongestFirst = new ArrayList<>();
    private final int[] byteIds = new int[256];
    private final int[] byteOfId;
    private final boolean addsBos;
    private final boolean addsEos;
    private final boolean mergesStopAtWordStarts;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /** Like HF's BPE cache: at most this many words, each shorter than the length limit. */
    private static final int CACHE_CAPACITY = 10_000;
    private static final int CACHEABLE_LENGTH = 256;

    private SentencePieceTokenizer(SentencePieceModel model, boolean addsBos, boolean addsEos) {
        this.model = model;
        int size = model.pieces().size();
        pieceText = new String[size];
        score = new float[size];
        type = new int[size];
        byteOfId = new int[size];
        for (int id = 0; id < size; id++) {
            SentencePieceModel.Piece piece = model.pieces().get(id);
            pieceText[id] = piece.text();
            score[id] = piece.score();
            type[id] = piece.type();
            byteOfId[id] = -1;
            switch (piece.type()) {
                case SentencePieceModel.NORMAL, SentencePieceModel.UNUSED -> mergeablePieces.put(piece.text(), id);
                case SentencePieceModel.USER_DEFINED -> {
                    mergeablePieces.put(piece.text(), id);
                    userDefinedLongestFirst.add(piece.text());
                }
                default -> reservedPieces.put(piece.text(), id);
            }
        }
        userDefinedLongestFirst.sort(Comparator.comparingInt(String::length).reversed());
        for (int b = 0; b < 256; b++) {
            byteIds[b] = pieceToId(String.format("<0x%02X>", b));
            if (type[byteIds[b]] == SentencePieceModel.BYTE) {
                byteOfId[byteIds[b]] = b;
            }
        }
        this.addsBos = addsBos;
        this.addsEos = addsEos;
        this.mergesStopAtWordStarts = mergeablePieces.keySet().stream().noneMatch(SentencePieceTokenizer::hasInnerWordStart);
    }

    /** Whether a piece has "▁" right after another character: it would join the end of a word to the next. */
    private static boolean hasInnerWordStart(String piece) {
        for (int i = 1; i < piece.length(); i++) {
            if (piece.charAt(i) == SPACE_SYMBOL && piece.charAt(i - 1) != SPACE_SYMBOL) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads a {@code tokenizer.model}; BOS/EOS defaults come from {@code tokenizer_config.json} when given
     * and present, else those of Transformers' LlamaTokenizer (BOS yes, EOS no).
     */
    static SentencePieceTokenizer read(Path modelFile, Path tokenizerConfigJson) throws IOException {
        SentencePieceModel model = SentencePieceModel.read(modelFile);
        if (model.modelType() != SentencePieceModel.BPE) {
            throw new TokenizerFileException(modelFile, "model type " + (model.modelType() == SentencePieceModel.UNIGRAM
                    ? "UNIGRAM" : "#" + model.modelType()) + " is not supported (only BPE)");
        }
        if (model.precompiledCharsmapBytes() > 0 || model.denormalizerCharsmapBytes() > 0) {
            throw new TokenizerFileException(modelFile, "normalizer '" + model.normalizerName()
                    + "' uses precompiled normalization rules, which are not supported (only 'identity')");
        }
        if (model.treatWhitespaceAsSuffix()) {
            throw new TokenizerFileException(modelFile, "treat_whitespace_as_suffix is not supported");
        }
        int size = model.pieces().size();
        if (size == 0) {
            throw new TokenizerFileException(modelFile, "has no pieces");
        }
        if (model.unkId() < 0 || model.unkId() >= size
                || model.pieces().get(model.unkId()).type() != SentencePieceModel.UNKNOWN) {
            throw new TokenizerFileException(modelFile, "unk_id " + model.unkId() + " is not an UNKNOWN piece");
        }
        TokenizerConfig config = TokenizerConfig.readIfPresent(tokenizerConfigJson);
        boolean addsBos = config.addBosToken() == null || config.addBosToken();
        boolean addsEos = config.addEosToken() != null && config.addEosToken();
        SentencePieceTokenizer tokenizer = new SentencePieceTokenizer(model, addsBos, addsEos);
        if (addsBos && tokenizer.bosId() < 0 || addsEos && tokenizer.eosId() < 0) {
            throw new TokenizerFileException(modelFile, "BOS/EOS are to be added but the model has none");
        }
        return tokenizer;
    }

    /**
     * A tokenizer from pieces held elsewhere (a GGUF file's {@code tokenizer.ggml.*} keys): SentencePiece BPE with
     * the identity normalizer, spaces kept as they are (no collapsing), a "▁" put first when
     * {@code addDummyPrefix}, and byte fallback when the pieces include byte pieces, as llama.cpp's SPM tokenizer.
     */
    static SentencePieceTokenizer fromPieces(List<SentencePieceModel.Piece> pieces, int unkId, int bosId, int eosId,
                                             boolean addDummyPrefix, boolean addsBos, boolean addsEos) {
        boolean byteFallback = pieces.stream().anyMatch(p -> p.type() == SentencePieceModel.BYTE);
        SentencePieceModel model = new SentencePieceModel(List.copyOf(pieces), SentencePieceModel.BPE, byteFallback, unkId,
                bosId, eosId, " \u2047 ", false, "identity", 0, addDummyPrefix, false, true, 0);
        return new SentencePieceTokenizer(model, addsBos, addsEos);
    }

    private int pieceToId(String piece) {
        Integer id = reservedPieces.get(piece);
        if (id == null) {
            id = mergeablePieces.get(piece);
        }
        return id == null ? model.unkId() : id;
    }

    @Override
    public int[] encode(String text, boolean addBos, boolean addEos, SpecialTokenText specialTokenText) {
        IntList ids = new IntList();
        if (addBos) {
            ids.add(requirePresent(bosId(), "BOS"));
        }
        String normalized = normalize(text);
        if (mergesStopAtWordStarts) {
            // SentencePiece runs BPE over the whole text at once. When no piece has "▁" after another
            // character, no merge can join the text before such a "▁" to the text after it, so the parts
            // between those points come out the same encoded one at a time, and repeated words can be cached.
            int wordStart = 0;
            for (int i = 1; i <= normalized.length(); i++) {
                if (i == normalized.length()
                        || normalized.charAt(i) == SPACE_SYMBOL && normalized.charAt(i - 1) != SPACE_SYMBOL) {
                    encodeWord(normalized.substring(wordStart, i), ids);
                    wordStart = i;
                }
            }
        } else if (!normalized.isEmpty()) {
            appendPieceIds(encodeNormalized(normalized), ids);
        }
        if (addEos) {
            ids.add(requirePresent(eosId(), "EOS"));
        }
        return ids.toArray();
    }

    private static int requirePresent(int id, String what) {
        if (id < 0) {
            throw new IllegalStateException("this tokenizer has no " + what + " token");
        }
        return id;
    }

    /** SentencePiece's normalizer with the identity rule: only spaces (U+0020) are touched. */
    String normalize(String text) {
        int i = 0;
        if (model.removeExtraWhitespaces()) {
            while (i < text.length() && text.charAt(i) == ' ') {
                i++;
            }
        }
        if (i == text.length()) {
            return "";
        }
        char space = model.escapeWhitespaces() ? SPACE_SYMBOL : ' ';
        StringBuilder normalized = new StringBuilder(text.length() + 1);
        if (model.addDummyPrefix()) {
            normalized.append(space);
        }
        boolean previousWasSpace = model.removeExtraWhitespaces();
        for (; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ' ') {
                if (!previousWasSpace) {
                    normalized.append(space);
                }
                previousWasSpace = model.removeExtraWhitespaces();
            } else {
                normalized.append(c);
                previousWasSpace = false;
            }
        }
        if (model.removeExtraWhitespaces()) {
            int end = normalized.length();
            while (end > 0 && normalized.charAt(end - 1) == space) {
                end--;
            }
            normalized.setLength(end);
        }
        return normalized.toString();
    }

    /** A possible merge of two adjacent symbols into a vocabulary piece of {@code length} chars. */
    private record Candidate(int left, int right, float score, int length) {}

    private static final Comparator<Candidate> BEST_FIRST =
            Comparator.comparingDouble((Candidate c) -> -c.score()).thenComparingInt(Candidate::left);

    private void encodeWord(String word, IntList ids) {
        int[] pieceIds = cache.get(word);
        if (pieceIds == null) {
            pieceIds = encodeNormalized(word);
            if (word.length() < CACHEABLE_LENGTH && cache.size() < CACHE_CAPACITY) {
                cache.put(word, pieceIds);
            }
        }
        appendPieceIds(pieceIds, ids);
    }

    /** Appends the ids of encoded pieces; a run of unknown pieces becomes one unknown id, as in SentencePiece. */
    private void appendPieceIds(int[] pieceIds, IntList ids) {
        for (int id : pieceIds) {
            boolean mergesWithPreviousUnknown = id == model.unkId() && !model.byteFallback() && ids.size() > 0
                    && ids.last() == model.unkId();
            if (!mergesWithPreviousUnknown) {
                ids.add(id);
            }
        }
    }

    /** The ids of the pieces BPE makes of normalized text, unknown pieces not yet merged into runs. */
    private int[] encodeNormalized(String text) {
        int capacity = text.length();
        int[] start = new int[capacity];
        int[] end = new int[capacity];
        int[] prev = new int[capacity];
        int[] next = new int[capacity];
        boolean[] frozen = new boolean[capacity];
        int count = 0;
        for (int i = 0; i < text.length(); count++) {
            int length = userDefinedMatch(text, i);
            frozen[count] = length > 0; // user-defined pieces are kept whole and never merged further
            if (length == 0) {
                length = Character.charCount(text.codePointAt(i));
            }
            start[count] = i;
            end[count] = i + length;
            prev[count] = count - 1;
            next[count] = i + length < text.length() ? count + 1 : -1;
            i += length;
        }

        PriorityQueue<Candidate> agenda = new PriorityQueue<>(BEST_FIRST);
        Map<String, String[]> unusedSplits = new HashMap<>();
        Adder adder = (left, right) -> {
            if (left < 0 || right < 0 || frozen[left] || frozen[right]) {
                return;
            }
            String piece = text.substring(start[left], end[right]);
            Integer id = mergeablePieces.get(piece);
            if (id == null) {
                return;
            }
            agenda.add(new Candidate(left, right, score[id], piece.length()));
            if (type[id] == SentencePieceModel.UNUSED) {
                // An unused piece may be formed on the way but is split back into its parts at the end.
                unusedSplits.put(piece, new String[] {text.substring(start[left], end[left]),
                        text.substring(start[right], end[right])});
            }
        };
        for (int i = 1; i < count; i++) {
            adder.add(i - 1, i);
        }
        while (!agenda.isEmpty()) {
            Candidate top = agenda.poll();
            int leftLength = end[top.left()] - start[top.left()];
            int rightLength = end[top.right()] - start[top.right()];
            if (leftLength == 0 || rightLength == 0 || leftLength + rightLength != top.length()) {
                continue; // one side has changed since this candidate was found
            }
            end[top.left()] = end[top.right()];
            end[top.right()] = start[top.right()];
            next[top.left()] = next[top.right()];
            if (next[top.right()] >= 0) {
                prev[next[top.right()]] = top.left();
            }
            adder.add(prev[top.left()], top.left());
            adder.add(top.left(), next[top.left()]);
        }
        IntList ids = new IntList();
        for (int i = 0; i >= 0; i = next[i]) {
            emit(text.substring(start[i], end[i]), unusedSplits, ids);
        }
        return ids.toArray();
    }

    private interface Adder {
        void add(int left, int right);
    }

    private int userDefinedMatch(String text, int at) {
        for (String piece : userDefinedLongestFirst) {
            if (text.startsWith(piece, at)) {
                return piece.length();
            }
        }
        return 0;
    }

    private void emit(String piece, Map<String, String[]> unusedSplits, IntList ids) {
        int id = pieceToId(piece);
        if (type[id] == SentencePieceModel.UNUSED && unusedSplits.containsKey(piece)) {
            String[] parts = unusedSplits.get(piece);
            emit(parts[0], unusedSplits, ids);
            emit(parts[1], unusedSplits, ids);
            return;
        }
        if (type[id] == SentencePieceModel.UNKNOWN && model.byteFallback()) {
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                ids.add(byteIds[b & 0xFF]);
            }
        } else {
            ids.add(id);
        }
    }

    @Override
    public TokenStreamDecoder streamDecoder(boolean skipSpecialTokens) {
        return new TokenStreamDecoder(new Decoding());
    }

    /**
     * SentencePiece's decoder: control pieces vanish, the unknown piece shows the model's unk_surface, byte
     * pieces are read as UTF-8 one character at a time (each invalid byte becoming U+FFFD), "▁" becomes a
     * space, and the "▁" the encoder put first is dropped from the first piece that starts with one (every
     * leading one when the model removes extra whitespace).
     */
    private final class Decoding implements DecodingState {
        private final byte[] run = new byte[4];
        private int runLength;
        private boolean expectLeadingSpace = true;
        private boolean leadingSpaceSeen;
        private boolean anyText;

        @Override
        public void push(int id, StringBuilder out) {
            if (id < 0 || id >= type.length) {
                throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (ids 0.."
                        + (type.length - 1) + ")");
            }
            if (type[id] == SentencePieceModel.BYTE) {
                run[runLength++] = (byte) byteOfId[id];
                drainRun(out, false);
                return;
            }
            drainRun(out, true);
            if (leadingSpaceSeen || anyText) {
                expectLeadingSpace = false;
            }
            String text;
            boolean consumedLeadingSpace = false;
            if (type[id] == SentencePieceModel.CONTROL) {
                text = "";
            } else if (type[id] == SentencePieceModel.UNKNOWN) {
                text = model.unkSurface();
            } else {
                text = pieceText[id];
                if (expectLeadingSpace && (model.addDummyPrefix() || model.removeExtraWhitespaces())
                        && !text.isEmpty() && text.charAt(0) == SPACE_SYMBOL) {
                    text = text.substring(1);
                    consumedLeadingSpace = !model.removeExtraWhitespaces();
                }
                text = text.replace(SPACE_SYMBOL, ' ');
            }
            leadingSpaceSeen = consumedLeadingSpace;
            append(text, out);
        }

        @Override
        public void finish(StringBuilder out) {
            drainRun(out, true);
        }

        /** Emits the whole characters of the byte run; at its end, every byte left over is U+FFFD. */
        private void drainRun(StringBuilder out, boolean runEnds) {
            int i = 0;
            StringBuilder text = new StringBuilder();
            while (i < runLength) {
                int n = Utf8.sequenceLength(run, i, runLength);
                if (n > 0) {
                    text.appendCodePoint(Utf8.codePoint(run, i, n));
                    i += n;
                } else if (n < 0 || runEnds) {
                    text.append(Utf8.REPLACEMENT); // SentencePiece replaces one byte and looks again
                    i++;
                } else {
                    break;
                }
            }
            System.arraycopy(run, i, run, 0, runLength - i);
            runLength -= i;
            append(text, out);
        }

        private void append(CharSequence text, StringBuilder out) {
            if (!text.isEmpty()) {
                anyText = true;
                out.append(text);
            }
        }
    }

    @Override
    public int vocabSize() {
        return pieceText.length;
    }

    @Override
    public int bosId() {
        return validId(model.bosId());
    }

    @Override
    public int eosId() {
        return validId(model.eosId());
    }

    private int validId(int id) {
        return id >= 0 && id < pieceText.length ? id : -1;
    }

    @Override
    public boolean addsBosByDefault() {
        return addsBos;
    }

    @Override
    public boolean addsEosByDefault() {
        return addsEos;
    }

    @Override
    public String token(int id) {
        if (id < 0 || id >= pieceText.length) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (ids 0.."
                    + (pieceText.length - 1) + ")");
        }
        return pieceText[id];
    }

    @Override
    public OptionalInt id(String token) {
        Integer id = reservedPieces.get(token);
        if (id == null) {
            id = mergeablePieces.get(token);
        }
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }
}
