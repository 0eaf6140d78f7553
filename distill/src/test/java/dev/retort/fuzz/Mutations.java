package dev.retort.fuzz;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

/**
 * Seeded mutations of a valid file, shared by every loader's fuzz: byte-level damage (truncation, random bytes,
 * flipped bits, cut or repeated spans, appended bytes) and text-level damage aimed at JSON (structural tokens
 * spliced in, a number replaced by one at or past a limit). In-place edits stay inside [from, to), the region
 * the caller wants damaged (a header, the text before a trailer); truncation and appending act on the whole.
 */
final class Mutations {
    /** A damaged file and how it was damaged, for the failure message. */
    record Mutant(byte[] bytes, String how) {}

    private static final String[] TOKENS = {"{", "}", "[", "]", ",", ":", "\"", "-", "0", "9", " ", "null", "true",
            "false", "\\u0000", "\\ud800", "\"\":", "{}", "[]", "\"x\"", "1e999", "é", "\u2028"};
    private static final String[] NUMBERS = {"2147483647", "2147483648", "-1", "0", "3.5", "1e999", "-2147483648",
            "9223372036854775807", "18446744073709551616", "4294967296", "65536", "1e-999", "NaN", "-0"};

    private Mutations() {}

    static Mutant mutate(byte[] valid, Random random) {
        return mutate(valid, 0, valid.length, random);
    }

    static Mutant mutate(byte[] valid, int from, int to, Random random) {
        byte[] b = valid.clone();
        int span = Math.max(1, to - from);
        switch (random.nextInt(9)) {
            case 0 -> {
                int length = random.nextInt(b.length + 1);
                return new Mutant(Arrays.copyOf(b, length), "truncated to " + length + " bytes");
            }
            case 1 -> {
                int n = 1 + random.nextInt(4);
                StringBuilder at = new StringBuilder();
                for (int k = 0; k < n; k++) {
                    int p = from + random.nextInt(span);
                    if (p < b.length) b[p] = (byte) random.nextInt(256);
                    at.append(' ').append(p);
                }
                return new Mutant(b, "random bytes at" + at);
            }
            case 2 -> {
                int p = Math.min(b.length - 1, from + random.nextInt(span));
                int bit = random.nextInt(8);
                if (p >= 0) b[p] ^= (byte) (1 << bit);
                return new Mutant(b, "bit " + bit + " of byte " + p + " flipped");
            }
            case 3 -> {
                String token = TOKENS[random.nextInt(TOKENS.length)];
                int p = from + random.nextInt(span);
                return new Mutant(splice(b, p, 0, token), "'" + token + "' inserted at " + p);
            }
            case 4 -> {
                int start = digitRun(b, from, to, random);
                if (start < 0) return new Mutant(b, "no number to replace");
                int end = start;
                while (end < to && end < b.length && (Character.isDigit(b[end]) || b[end] == '.' || b[end] == 'e' || b[end] == '-')) end++;
                String number = NUMBERS[random.nextInt(NUMBERS.length)];
                return new Mutant(splice(b, start, end - start, number), "number at " + start + " replaced by " + number);
            }
            case 5 -> {
                int p = from + random.nextInt(span);
                int n = Math.min(b.length - Math.min(p, b.length), 1 + random.nextInt(16));
                return new Mutant(splice(b, Math.min(p, b.length), n, ""), n + " bytes cut at " + p);
            }
            case 6 -> {
                int p = from + random.nextInt(span);
                int n = Math.min(b.length - Math.min(p, b.length), 1 + random.nextInt(32));
                int at = Math.min(p, b.length);
                String repeat = new String(b, at, n, StandardCharsets.ISO_8859_1);
                byte[] out = new byte[b.length + n];
                System.arraycopy(b, 0, out, 0, at + n);
                System.arraycopy(repeat.getBytes(StandardCharsets.ISO_8859_1), 0, out, at + n, n);
                System.arraycopy(b, at + n, out, at + 2 * n, b.length - at - n);
                return new Mutant(out, n + " bytes at " + p + " repeated");
            }
            case 7 -> {
                int n = 1 + random.nextInt(16);
                byte[] out = Arrays.copyOf(b, b.length + n);
                for (int k = b.length; k < out.length; k++) out[k] = (byte) random.nextInt(256);
                return new Mutant(out, n + " random bytes appended");
            }
            default -> {
                int p = from + random.nextInt(span);
                int q = from + random.nextInt(span);
                if (p < b.length && q < b.length) {
                    byte t = b[p];
                    b[p] = b[q];
                    b[q] = t;
                }
                return new Mutant(b, "bytes " + p + " and " + q + " swapped");
            }
        }
    }

    /** {@code b} with {@code remove} bytes at {@code at} replaced by {@code insert}'s UTF-8. */
    static byte[] splice(byte[] b, int at, int remove, String insert) {
        byte[] add = insert.getBytes(StandardCharsets.UTF_8);
        at = Math.min(at, b.length);
        remove = Math.min(remove, b.length - at);
        byte[] out = new byte[b.length - remove + add.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(add, 0, out, at, add.length);
        System.arraycopy(b, at + remove, out, at + add.length, b.length - at - remove);
        return out;
    }

    /** The start of a run of digits in [from, to), searching from a random point; -1 when there is none. */
    private static int digitRun(byte[] b, int from, int to, Random random) {
        int span = Math.min(to, b.length) - from;
        if (span <= 0) return -1;
        int start = random.nextInt(span);
        for (int k = 0; k < span; k++) {
            int p = from + (start + k) % span;
            if (Character.isDigit(b[p])) {
                while (p > from && Character.isDigit(b[p - 1])) p--;
                return p;
            }
        }
        return -1;
    }
}
