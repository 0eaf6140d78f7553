package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code decoder} of a {@code tokenizer.json}, in the two shapes Llama-family files use:
 * <ul>
 *   <li>byte-level ({@code ByteLevel}): every token stands for bytes, and the bytes of the whole sequence are
 *       read as UTF-8 with one U+FFFD per maximal ill-formed part (Rust's {@code from_utf8_lossy});</li>
 *   <li>SentencePiece-like ({@code Sequence[Replace "▁" → " ", ByteFallback, Fuse, Strip " " 1 0]}, or
 *       {@code Metaspace}): tokens are text, except that a run of {@code <0xXX>} tokens is read as UTF-8 as a
 *       whole and becomes one U+FFFD per byte when any of it is invalid; then leading spaces are stripped
 *       from the start of the text.</li>
 * </ul>
 * Decoding is built as a stream (ids in, final text out) so that streaming and whole decoding agree.
 */
final class HuggingFaceDecoding {

    private final boolean[] special;
    private final byte[][] bytesById;   // byte-level: what each token stands for
    private final String[] textById;    // SentencePiece-like: each token's text after the Replace steps
    private final int[] byteById;       // SentencePiece-like: the byte of a <0xXX> token, else -1
    private final char stripContent;
    private final int stripStart;

    private HuggingFaceDecoding(boolean[] special, byte[][] bytesById, String[] textById, int[] byteById,
            char stripContent, int stripStart) {
        this.special = special;
        this.bytesById = bytesById;
        this.textById = textById;
        this.byteById = byteById;
        this.stripContent = stripContent;
        this.stripStart = stripStart;
    }

    /**
     * Builds the decoding a {@code decoder} section describes.
     *
     * @param tokenById every id's token text ({@code null} for ids that have none)
     * @param special which ids are special added tokens
     */
    static HuggingFaceDecoding fromJson(JsonNode json, String[] tokenById, boolean[] special, Path file)
            throws TokenizerFileException {
        if (json == null || json.isNull()) {
            throw new TokenizerFileException(file, "has no decoder; decoding needs one (ByteLevel or a "
                    + "SentencePiece-like Sequence)");
        }
        List<JsonNode> steps = new ArrayList<>();
        flatten(json, steps, file);
        String first = HuggingFaceJson.requiredText(steps.get(0), "type", file, "decoder");
        if (first.equals("ByteLevel") && steps.size() == 1) {
            byte[][] bytes = new byte[tokenById.length][];
            for (int id = 0; id < tokenById.length; id++) {
                bytes[id] = tokenById[id] == null ? null : ByteLevelAlphabet.decode(tokenById[id]);
            }
            return new HuggingFaceDecoding(special, bytes, null, null, ' ', 0);
        }
        if (first.equals("Metaspace") && steps.size() == 1) {
            JsonNode step = steps.get(0);
            String replacement = HuggingFaceJson.requiredText(step, "replacement", file, "decoder Metaspace");
            String scheme = step.hasNonNull("prepend_scheme") ? step.get("prepend_scheme").asText()
                    : HuggingFaceJson.flag(step, "add_prefix_space", true) ? "always" : "never";
            String[] text = new String[tokenById.length];
            int[] noBytes = new int[tokenById.length];
            for (int id = 0; id < tokenById.length; id++) {
                text[id] = tokenById[id] == null ? null : tokenById[id].replace(replacement, " ");
                noBytes[id] = -1;
            }
            // HF strips the space from the first token only, which is the start of the text.
            return new HuggingFaceDecoding(special, null, text, noBytes, ' ', scheme.equals("never") ? 0 : 1);
        }
        List<String[]> replacements = new ArrayList<>();
        boolean byteFallback = false;
        boolean fused = false;
        char stripContent = ' ';
        int stripStart = 0;
        for (JsonNode step : steps) {
            String type = HuggingFaceJson.requiredText(step, "type", file, "decoder");
            switch (type) {
                case "Replace" -> {
                    if (byteFallback || fused || stripStart > 0) {
                        throw unsupportedOrder(file, "Replace after ByteFallback, Fuse or Strip");
                    }
                    JsonNode pattern = step.get("pattern");
                    if (pattern == null || pattern.get("String") == null) {
                        throw new TokenizerFileException(file, "decoder Replace with a regex pattern is not supported");
                    }
                    replacements.add(new String[] {pattern.get("String").asText(),
                            HuggingFaceJson.requiredText(step, "content", file, "decoder Replace")});
                }
                case "ByteFallback" -> {
                    if (fused || stripStart > 0) {
                        throw unsupportedOrder(file, "ByteFallback after Fuse or Strip");
                    }
                    byteFallback = true;
                }
                case "Fuse" -> fused = true;
                case "Strip" -> {
                    String content = HuggingFaceJson.requiredText(step, "content", file, "decoder Strip");
                    int stop = step.path("stop").asInt(0);
                    if (!fused || stop != 0 || content.length() != 1) {
                        throw unsupportedOrder(file, "Strip other than of leading characters after Fuse");
                    }
                    stripContent = content.charAt(0);
                    stripStart = step.path("start").asInt(0);
                }
                default -> throw new TokenizerFileException(file, "decoder type '" + type + "' is not supported "
                        + "here (supported: ByteLevel alone, Metaspace alone, or a Sequence of Replace, "
                        + "ByteFallback, Fuse, Strip)");
            }
        }
        String[] text = new String[tokenById.length];
        int[] byteValue = new int[tokenById.length];
        for (int id = 0; id < tokenById.length; id++) {
            String token = tokenById[id];
            byteValue[id] = -1;
            if (token == null) {
                continue;
            }
            for (String[] replacement : replacements) {
                token = token.replace(replacement[0], replacement[1]);
            }
            text[id] = token;
            if (byteFallback) {
                byteValue[id] = byteTokenValue(token);
            }
        }
        return new HuggingFaceDecoding(special, null, text, byteValue, stripContent, stripStart);
    }

    private static void flatten(JsonNode json, List<JsonNode> steps, Path file) throws TokenizerFileException {
        if ("Sequence".equals(json.path("type").asText())) {
            for (JsonNode step : HuggingFaceJson.requiredArray(json, "decoders", file, "decoder Sequence")) {
                flatten(step, steps, file);
            }
        } else {
            steps.add(json);
        }
    }

    private static TokenizerFileException unsupportedOrder(Path file, String what) {
        return new TokenizerFileException(file, "decoder " + what + " is not supported");
    }

    /** The byte of a token spelled {@code <0xXX>} (HF accepts either case of hex digit), else -1. */
    private static int byteTokenValue(String token) {
        if (token.length() != 6 || !token.startsWith("<0x") || !token.endsWith(">")) {
            return -1;
        }
        int high = Character.digit(token.charAt(3), 16);
        int low = Character.digit(token.charAt(4), 16);
        return high < 0 || low < 0 ? -1 : high * 16 + low;
    }

    DecodingState newState(boolean skipSpecialTokens) {
        return bytesById != null ? new ByteLevelState(skipSpecialTokens) : new PieceState(skipSpecialTokens);
    }

    private int checkedId(int id) {
        int size = special.length;
        if (id < 0 || id >= size || (bytesById != null ? bytesById[id] == null : textById[id] == null)) {
            throw new IllegalArgumentException("token id " + id + " is not in the vocabulary (ids 0.." + (size - 1)
                    + ")");
        }
        return id;
    }

    /** Byte-level: bytes accumulate and leave as soon as they form whole characters or are surely invalid. */
    private final class ByteLevelState implements DecodingState {
        private final boolean skipSpecial;
        private byte[] pending = new byte[16];
        private int pendingLength;

        ByteLevelState(boolean skipSpecial) {
            this.skipSpecial = skipSpecial;
        }

        @Override
        public void push(int id, StringBuilder out) {
            checkedId(id);
            if (skipSpecial && special[id]) {
                return;
            }
            byte[] bytes = bytesById[id];
            if (pendingLength + bytes.length > pending.length) {
                pending = java.util.Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + bytes.length));
            }
            System.arraycopy(bytes, 0, pending, pendingLength, bytes.length);
            pendingLength += bytes.length;
            int i = 0;
            while (i < pendingLength) {
                int n = Utf8.sequenceLength(pending, i, pendingLength);
                if (n == 0) {
                    break; // an unfinished character: later bytes decide
                }
                if (n > 0) {
                    out.appendCodePoint(Utf8.codePoint(pending, i, n));
                    i += n;
                } else {
                    out.append(Utf8.REPLACEMENT);
                    i += -n;
                }
            }
            System.arraycopy(pending, i, pending, 0, pendingLength - i);
            pendingLength -= i;
        }

        @Override
        public void finish(StringBuilder out) {
            if (pendingLength > 0) {
                out.append(Utf8.REPLACEMENT); // an unfinished character is one maximal ill-formed part
                pendingLength = 0;
            }
        }
    }

    /** SentencePiece-like: text passes through, byte runs wait for their end to be judged as a whole. */
    private final class PieceState implements DecodingState {
        private final boolean skipSpecial;
        private byte[] run = new byte[8];
        private int runLength;
        private int leadingToStrip = stripStart;

        PieceState(boolean skipSpecial) {
            this.skipSpecial = skipSpecial;
        }

        @Override
        public void push(int id, StringBuilder out) {
            checkedId(id);
            if (skipSpecial && special[id]) {
                return; // HF drops skipped tokens before decoding, so a byte run goes on across them
            }
            int b = byteById[id];
            if (b >= 0) {
                if (runLength == run.length) {
                    run = java.util.Arrays.copyOf(run, runLength * 2);
                }
                run[runLength++] = (byte) b;
                return;
            }
            endRun(out);
            emit(textById[id], out);
        }

        @Override
        public void finish(StringBuilder out) {
            endRun(out);
        }

        private void endRun(StringBuilder out) {
            if (runLength == 0) {
                return;
            }
            StringBuilder text = new StringBuilder();
            if (Utf8.isValid(run, 0, runLength)) {
                Utf8.appendValid(run, 0, runLength, text);
            } else {
                text.repeat(Utf8.REPLACEMENT, runLength);
            }
            runLength = 0;
            emit(text, out);
        }

        private void emit(CharSequence text, StringBuilder out) {
            int from = 0;
            while (leadingToStrip > 0 && from < text.length() && text.charAt(from) == stripContent) {
                from++;
                leadingToStrip--;
            }
            if (from < text.length()) {
                leadingToStrip = 0; // only the start of the whole text is stripped
            }
            out.append(text, from, text.length());
        }
    }
}
