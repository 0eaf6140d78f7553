package dev.retort.models.tokenizer;

import dev.retort.models.InputFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of a SentencePiece {@code tokenizer.model} (a serialized {@code ModelProto}) that encoding and
 * decoding need. Field numbers and proto2 defaults are those of SentencePiece's
 * {@code sentencepiece_model.proto}; a field absent from the file takes its default.
 */
record SentencePieceModel(List<Piece> pieces, int modelType, boolean byteFallback, int unkId, int bosId, int eosId,
        String unkSurface, boolean treatWhitespaceAsSuffix, String normalizerName, int precompiledCharsmapBytes,
        boolean addDummyPrefix, boolean removeExtraWhitespaces, boolean escapeWhitespaces,
        int denormalizerCharsmapBytes) {

    /** Piece types of {@code ModelProto.SentencePiece.Type}. */
    static final int NORMAL = 1;
    static final int UNKNOWN = 2;
    static final int CONTROL = 3;
    static final int USER_DEFINED = 4;
    static final int UNUSED = 5;
    static final int BYTE = 6;

    /** Model types of {@code TrainerSpec.ModelType}. */
    static final int UNIGRAM = 1;
    static final int BPE = 2;

    record Piece(String text, float score, int type) {}

    static SentencePieceModel read(Path file) throws IOException {
        byte[] bytes = InputFiles.readBytes(file, InputFiles.TOKENIZER_BYTES, TokenizerFileException::new);
        try {
            return parse(bytes);
        } catch (IllegalStateException e) {
            throw new TokenizerFileException(file, "is not a SentencePiece model: " + e.getMessage(), e);
        }
    }

    static SentencePieceModel parse(byte[] bytes) {
        List<Piece> pieces = new ArrayList<>();
        int modelType = UNIGRAM;
        boolean byteFallback = false;
        int unkId = 0;
        int bosId = 1;
        int eosId = 2;
        String unkSurface = " \u2047 ";
        boolean treatWhitespaceAsSuffix = false;
        String normalizerName = "";
        int charsmapBytes = 0;
        boolean addDummyPrefix = true;
        boolean removeExtraWhitespaces = true;
        boolean escapeWhitespaces = true;
        int denormalizerCharsmapBytes = 0;

        ProtoReader model = new ProtoReader(bytes);
        while (model.hasMore()) {
            int tag = model.readTag();
            switch (tag) {
                case 1 << 3 | ProtoReader.LENGTH_DELIMITED -> pieces.add(readPiece(model.readMessage()));
                case 2 << 3 | ProtoReader.LENGTH_DELIMITED -> {
                    ProtoReader trainer = model.readMessage();
                    while (trainer.hasMore()) {
                        int field = trainer.readTag();
                        switch (field) {
                            case 3 << 3 | ProtoReader.VARINT -> modelType = (int) trainer.readVarint();
                            case 24 << 3 | ProtoReader.VARINT -> treatWhitespaceAsSuffix = trainer.readVarint() != 0;
                            case 35 << 3 | ProtoReader.VARINT -> byteFallback = trainer.readVarint() != 0;
                            case 40 << 3 | ProtoReader.VARINT -> unkId = (int) trainer.readVarint();
                            case 41 << 3 | ProtoReader.VARINT -> bosId = (int) trainer.readVarint();
                            case 42 << 3 | ProtoReader.VARINT -> eosId = (int) trainer.readVarint();
                            case 44 << 3 | ProtoReader.LENGTH_DELIMITED -> unkSurface = trainer.readString();
                            default -> trainer.skip(field & 7);
                        }
                    }
                }
                case 3 << 3 | ProtoReader.LENGTH_DELIMITED -> {
                    ProtoReader normalizer = model.readMessage();
                    while (normalizer.hasMore()) {
                        int field = normalizer.readTag();
                        switch (field) {
                            case 1 << 3 | ProtoReader.LENGTH_DELIMITED -> normalizerName = normalizer.readString();
                            case 2 << 3 | ProtoReader.LENGTH_DELIMITED -> charsmapBytes = normalizer.readLengthOnly();
                            case 3 << 3 | ProtoReader.VARINT -> addDummyPrefix = normalizer.readVarint() != 0;
                            case 4 << 3 | ProtoReader.VARINT -> removeExtraWhitespaces = normalizer.readVarint() != 0;
                            case 5 << 3 | ProtoReader.VARINT -> escapeWhitespaces = normalizer.readVarint() != 0;
                            default -> normalizer.skip(field & 7);
                        }
                    }
                }
                case 5 << 3 | ProtoReader.LENGTH_DELIMITED -> {
                    ProtoReader denormalizer = model.readMessage();
                    while (denormalizer.hasMore()) {
                        int field = denormalizer.readTag();
                        if (field == (2 << 3 | ProtoReader.LENGTH_DELIMITED)) {
                            denormalizerCharsmapBytes = denormalizer.readLengthOnly();
                        } else {
                            denormalizer.skip(field & 7);
                        }
                    }
                }
                default -> model.skip(tag & 7);
            }
        }
        return new SentencePieceModel(List.copyOf(pieces), modelType, byteFallback, unkId, bosId, eosId, unkSurface,
                treatWhitespaceAsSuffix, normalizerName, charsmapBytes, addDummyPrefix, removeExtraWhitespaces,
                escapeWhitespaces, denormalizerCharsmapBytes);
    }

    private static Piece readPiece(ProtoReader message) {
        String text = null;
        float score = 0;
        int type = NORMAL;
        while (message.hasMore()) {
            int field = message.readTag();
            switch (field) {
                case 1 << 3 | ProtoReader.LENGTH_DELIMITED -> text = message.readString();
                case 2 << 3 | ProtoReader.FIXED32 -> score = message.readFloat();
                case 3 << 3 | ProtoReader.VARINT -> type = (int) message.readVarint();
                default -> message.skip(field & 7);
            }
        }
        if (text == null) {
            throw new IllegalStateException("a piece has no text");
        }
        return new Piece(text, score, type);
    }
}
