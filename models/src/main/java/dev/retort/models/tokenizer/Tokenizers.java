package dev.retort.models.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads the tokenizer of a Hugging Face model directory. */
public final class Tokenizers {

    private Tokenizers() {}

    /**
     * Loads the tokenizer of a model directory: {@code tokenizer.json} (with {@code tokenizer_config.json}
     * when present) if there is one, else the SentencePiece {@code tokenizer.model}. A path to one of those
     * files loads that file.
     *
     * @throws TokenizerFileException naming the file, when it is missing, corrupt or unsupported
     */
    public static Tokenizer load(Path modelDirOrFile) throws IOException {
        if (Files.isRegularFile(modelDirOrFile)) {
            Path dir = modelDirOrFile.toAbsolutePath().getParent();
            Path config = dir.resolve("tokenizer_config.json");
            return modelDirOrFile.getFileName().toString().endsWith(".json")
                    ? loadHuggingFace(modelDirOrFile, config)
                    : loadSentencePiece(modelDirOrFile, config);
        }
        if (!Files.isDirectory(modelDirOrFile)) {
            throw new TokenizerFileException(modelDirOrFile, "does not exist");
        }
        Path json = modelDirOrFile.resolve("tokenizer.json");
        Path config = modelDirOrFile.resolve("tokenizer_config.json");
        if (Files.exists(json)) {
            return loadHuggingFace(json, config);
        }
        Path model = modelDirOrFile.resolve("tokenizer.model");
        if (Files.exists(model)) {
            return loadSentencePiece(model, config);
        }
        throw new TokenizerFileException(modelDirOrFile, "has neither tokenizer.json nor tokenizer.model");
    }

    /**
     * Loads a Hugging Face {@code tokenizer.json}.
     *
     * @param tokenizerConfigJson its {@code tokenizer_config.json} for BOS/EOS settings; may be null or absent
     */
    public static Tokenizer loadHuggingFace(Path tokenizerJson, Path tokenizerConfigJson) throws IOException {
        return HuggingFaceTokenizerReader.read(tokenizerJson, tokenizerConfigJson);
    }

    /**
     * Loads a SentencePiece BPE {@code tokenizer.model}.
     *
     * @param tokenizerConfigJson a {@code tokenizer_config.json} for add_bos_token/add_eos_token; may be null
     *     or absent, in which case BOS is added and EOS is not, as Transformers' LlamaTokenizer does
     */
    public static Tokenizer loadSentencePiece(Path tokenizerModel, Path tokenizerConfigJson) throws IOException {
        return SentencePieceTokenizer.read(tokenizerModel, tokenizerConfigJson);
    }
}
