package dev.retort.models.tokenizer;

/**
 * Reading UTF-8 one character at a time. Tokenizers produce raw bytes (byte-fallback and byte-level tokens)
 * and each reference turns invalid bytes into U+FFFD by its own rule, so the decoders need the pieces
 * rather than a {@code new String(bytes, UTF_8)}.
 */
final class Utf8 {

    static final char REPLACEMENT = '\uFFFD';

    private Utf8() {}

    /**
     * Classifies the bytes starting at {@code bytes[start]} (Unicode's table of well-formed sequences):
     * a positive n when a whole character of n bytes starts there; 0 when {@code bytes[start, end)} is a
     * proper prefix of a character that more bytes could complete; -k when it is ill-formed, k being the
     * length of the maximal ill-formed prefix (the bytes one U+FFFD replaces under "maximal subparts").
     */
    static int sequenceLength(byte[] bytes, int start, int end) {
        int lead = bytes[start] & 0xFF;
        int length;
        int secondLow = 0x80;
        int secondHigh = 0xBF;
        if (lead < 0x80) {
            return 1;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) {
                secondLow = 0xA0; // no overlong forms
            } else if (lead == 0xED) {
                secondHigh = 0x9F; // no surrogates
            }
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) {
                secondLow = 0x90;
            } else if (lead == 0xF4) {
                secondHigh = 0x8F; // nothing past U+10FFFF
            }
        } else {
            return -1;
        }
        for (int k = 1; k < length; k++) {
            if (start + k >= end) {
                return 0;
            }
            int b = bytes[start + k] & 0xFF;
            int low = k == 1 ? secondLow : 0x80;
            int high = k == 1 ? secondHigh : 0xBF;
            if (b < low || b > high) {
                return -k;
            }
        }
        return length;
    }

    /** The code point of a whole character found by {@link #sequenceLength}. */
    static int codePoint(byte[] bytes, int start, int length) {
        int lead = bytes[start] & 0xFF;
        if (length == 1) {
            return lead;
        }
        int cp = lead & (0xFF >> (length + 1));
        for (int k = 1; k < length; k++) {
            cp = (cp << 6) | (bytes[start + k] & 0x3F);
        }
        return cp;
    }

    /** Whether the bytes are entirely well-formed UTF-8 (Rust's {@code String::from_utf8} succeeds). */
    static boolean isValid(byte[] bytes, int start, int end) {
        for (int i = start; i < end; ) {
            int n = sequenceLength(bytes, i, end);
            if (n <= 0) {
                return false;
            }
            i += n;
        }
        return true;
    }

    /** Appends the characters of well-formed bytes. */
    static void appendValid(byte[] bytes, int start, int end, StringBuilder out) {
        for (int i = start; i < end; ) {
            int n = sequenceLength(bytes, i, end);
            out.appendCodePoint(codePoint(bytes, i, n));
            i += n;
        }
    }

    /** Whether a code point is Unicode White_Space (Rust's {@code char::is_whitespace}, regex {@code \s}). */
    static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }
}
