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

    /** Every piece of the model file, by id. */
    public static List<Piece> read(Path tokenizerModel) throws IOException {
        List<Piece> pieces = new ArrayList<>();
        for (SentencePieceModel.Piece p : SentencePieceModel.read(tokenizerModel).pieces()) {
            pieces.add(new Piece(p.text(), p.score(), p.type()));
        }
        return pieces;
    }
}
