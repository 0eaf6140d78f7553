package dev.retort.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;

/** Assertions whose failure messages show the input, the expected ids and the actual ids. */
final class TokenizerAssertions {

    private TokenizerAssertions() {}

    static void assertIds(int[] expected, int[] actual, String input) {
        if (!Arrays.equals(expected, actual)) {
            throw new AssertionError("encoding " + quote(input) + "\n expected " + Arrays.toString(expected)
                    + "\n actual   " + Arrays.toString(actual));
        }
    }

    static void assertText(String expected, String actual, int[] ids) {
        assertEquals(expected, actual, () -> "decoding " + Arrays.toString(ids) + " (expected " + quote(expected)
                + ", actual " + quote(actual) + ")");
    }

    /** A string with its invisible characters spelled out, so that a failure shows what differs. */
    static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        text.codePoints().limit(120).forEach(cp -> {
            switch (cp) {
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                case '\r' -> out.append("\\r");
                case '"' -> out.append("\\\"");
                default -> {
                    if (cp < 0x20 || cp == 0xFFFD || Character.isWhitespace(cp) && cp != ' ') {
                        out.append(String.format("\\u%04X", cp));
                    } else {
                        out.appendCodePoint(cp);
                    }
                }
            }
        });
        return out.append(text.codePointCount(0, text.length()) > 120 ? "...\"" : "\"").toString();
    }
}
