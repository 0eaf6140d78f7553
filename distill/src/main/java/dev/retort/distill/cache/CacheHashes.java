package dev.retort.distill.cache;

import dev.retort.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The hashes a teacher cache records, as {@code "sha256:<64 hex digits>"}: of the vocabulary its token ids
 * refer to, so that a cache is never used with a tokenizer that numbers tokens differently, and of the
 * training data it was made from.
 */
public final class CacheHashes {
    private static final String PREFIX = "sha256:";

    private CacheHashes() {}

    /**
     * A hash of what the token ids mean: the vocabulary size, BOS and EOS ids, and every entry's spelling in
     * id order (a hole in the ids hashes as length -1). Each spelling is length-prefixed, so moving a boundary
     * between neighbours ("ab","c" vs "a","bc") changes the hash. Tokenizer files that differ only in ways
     * that keep every id's meaning (formatting, normaliser options) hash the same — deliberately: the cache
     * stores ids and logits, never text.
     */
    public static String vocabulary(Tokenizer tokenizer) {
        MessageDigest sha = sha256();
        ByteBuffer word = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        int vocab = tokenizer.vocabSize();
        sha.update(word.clear().putInt(vocab).flip());
        sha.update(word.clear().putInt(tokenizer.bosId()).flip());
        sha.update(word.clear().putInt(tokenizer.eosId()).flip());
        for (int id = 0; id < vocab; id++) {
            String token = spelling(tokenizer, id);
            byte[] utf8 = token == null ? new byte[0] : token.getBytes(StandardCharsets.UTF_8);
            sha.update(word.clear().putInt(token == null ? -1 : utf8.length).flip());
            sha.update(utf8);
        }
        return PREFIX + HexFormat.of().formatHex(sha.digest());
    }

    /** An entry's spelling, or null for an id the vocabulary skips (a hole below the largest id). */
    private static String spelling(Tokenizer tokenizer, int id) {
        try {
            return tokenizer.token(id);
        } catch (IllegalArgumentException hole) {
            return null;
        }
    }

    /** SHA-256 of a file's bytes, streamed (a training set can be many gigabytes). */
    public static String file(Path file) throws IOException {
        MessageDigest sha = sha256();
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) sha.update(buffer, 0, n);
        }
        return PREFIX + HexFormat.of().formatHex(sha.digest());
    }

    /** SHA-256 of bytes in memory (such as the contexts a synthesis run reads). */
    public static String bytes(byte[] bytes) {
        return PREFIX + HexFormat.of().formatHex(sha256().digest(bytes));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
