package dev.retort.models.tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The pieces of a SentencePiece {@code tokenizer.model} as other formats store them (GGUF's
 * {@code tokenizer.ggml.tokens}, {@code .scores} and {@code .token_type}): text, score and type by id.
 */
public final class SentencePieceVocabulary {
    /** Piece types, numbered as SentencePiece's {@code ModelProto.SentencePiece.Type} and GGUF's token types. */
    public static final int NORMAL = SentencePieceModel.NORMAL, UNKNOWN = SentencePieceModel.UNKNOWN,
            CONTROL = SentencePieceModel.CONTROL, USER_DEFINED = SentencePieceModel.USER_DEFINED,
            UNUSED = SentencePieceModel.UNUSED, BYTE = SentencePieceModel.BYTE;

    /** One piece: its text (with U+2581 for a space, as stored), its score and its type. */
    public record Piece(String text, float score, int type) {}

    private SentencePieceVocabulary() {}

    /**
     * Writes {@code pieces} as a SentencePiece {@code tokenizer.model} (a serialized {@code ModelProto}) that
     * {@link Tokenizers#loadSentencePiece} reads back as the tokenizer {@link Tokenizers#sentencePiece} makes of
     * the same pieces: BPE, the identity normalizer with spaces kept, a "▁" first when {@code addDummyPrefix},
     * byte fallback when there are byte pieces.
     */
    public static void write(Path file, List<Piece> pieces, int unkId, int bosId, int eosId, boolean addDummyPrefix) throws IOException {
        java.io.ByteArrayOutputStream model = new java.io.ByteArrayOutputStream();
        boolean byteFallback = false;
        for (Piece p : pieces) {
            java.io.ByteArrayOutputStream piece = new java.io.ByteArrayOutputStream();
            bytes(piece, 1, p.text().getBytes(java.nio.charset.StandardCharsets.UTF_8));
            tag(piece, 2, ProtoReader.FIXED32);
            int bits = Float.floatToRawIntBits(p.score());
            for (int i = 0; i < 4; i++) piece.write(bits >>> (8 * i));
            varint(piece, 3, p.type());
            bytes(model, 1, piece.toByteArray());
            byteFallback |= p.type() == BYTE;
        }
        java.io.ByteArrayOutputStream trainer = new java.io.ByteArrayOutputStream();
        varint(trainer, 3, SentencePieceModel.BPE);
        varint(trainer, 35, byteFallback ? 1 : 0);
        varint(trainer, 40, unkId);
        varint(trainer, 41, bosId);
        varint(trainer, 42, eosId);
        bytes(model, 2, trainer.toByteArray());
        java.io.ByteArrayOutputStream normalizer = new java.io.ByteArrayOutputStream();
        bytes(normalizer, 1, "identity".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        varint(normalizer, 3, addDummyPrefix ? 1 : 0);
        varint(normalizer, 4, 0);   // remove_extra_whitespaces: spaces kept, as llama.cpp keeps them
        varint(normalizer, 5, 1);
        bytes(model, 3, normalizer.toByteArray());
        java.nio.file.Files.write(file, model.toByteArray());
    }

    private static void tag(java.io.ByteArrayOutputStream out, int field, int wireType) {
        rawVarint(out, (long) field << 3 | wireType);
    }

    private static void varint(java.io.ByteArrayOutputStream out, int field, long value) {
        tag(out, field, ProtoReader.VARINT);
        rawVarint(out, value);   // a negative int32 is sign-extended to ten bytes, as protobuf writes it
    }

    private static void bytes(java.io.ByteArrayOutputStream out, int field, byte[] value) {
        tag(out, field, ProtoReader.LENGTH_DELIMITED);
        rawVarint(out, value.length);
        out.writeBytes(value);
    }

    private static void rawVarint(java.io.ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) (v & 0x7f) | 0x80);
            v >>>= 7;
        }
        out.write((int) v);
    }

    /** Every piece of the model file, by id. */
    public static List<Piece> read(Path tokenizerModel) throws IOException {
        List<Piece> pieces = new ArrayList<>();
        for (SentencePieceModel.Piece p : SentencePieceModel.read(tokenizerModel).pieces()) {
            pieces.add(new Piece(p.text(), p.score(), p.type()));
        }
        return pieces;
    }
}
