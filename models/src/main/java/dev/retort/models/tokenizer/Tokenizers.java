package dev.retort.models.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Loads the tokenizer of a Hugging Face model directory. */
public final class Tokenizers {

    private Tokenizers() {}

    /**
     * Loads the tokenizer of a model directory: {@code tokenizer.json} (with {@code tokenizer_config.json}
     * when present) if there is one, else the SentencePiece {@code tokenizer.model}. A path to one of those
     * files loads that file; a GGUF file (known by its magic) gives the tokenizer its metadata describes
     * ({@link dev.retort.models.gguf.GgufModel#tokenizer(Path)}).
     *
     * @throws TokenizerFileException naming the file, when it is missing, corrupt or unsupported
     */
    public static Tokenizer load(Path modelDirOrFile) throws IOException {
        if (dev.retort.models.gguf.GgufFile.isGguf(modelDirOrFile)) return dev.retort.models.gguf.GgufModel.tokenizer(modelDirOrFile);
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

    /**
     * A SentencePiece-style BPE tokenizer from its pieces, as a GGUF file of {@code tokenizer.ggml.model} "llama"
     * stores them ({@code tokens}, {@code scores}, {@code token_type} by id): encoded as llama.cpp's SPM tokenizer
     * encodes (identity normalizer, spaces kept, "▁" first when {@code addSpacePrefix}, byte fallback when there
     * are byte pieces), decoded as SentencePiece decodes.
     *
     * @param file names the source in errors
     * @param unkId the unknown piece, whatever type it is stored with (converters mark it control)
     * @throws TokenizerFileException naming {@code file} when a piece type is unknown or unkId is not a piece
     */
    public static Tokenizer sentencePiece(Path file, List<SentencePieceVocabulary.Piece> pieces, int unkId, int bosId, int eosId,
                                          boolean addSpacePrefix, boolean addBos, boolean addEos) throws TokenizerFileException {
        if (pieces.isEmpty()) throw new TokenizerFileException(file, "has no tokens");
        List<SentencePieceModel.Piece> converted = new java.util.ArrayList<>(pieces.size());
        for (int id = 0; id < pieces.size(); id++) {
            SentencePieceVocabulary.Piece p = pieces.get(id);
            int type = p.type() == 0 ? SentencePieceModel.NORMAL : p.type();
            if (type < SentencePieceModel.NORMAL || type > SentencePieceModel.BYTE) {
                throw new TokenizerFileException(file, "token " + id + " has type " + p.type() + "; expected 1 to 6");
            }
            converted.add(new SentencePieceModel.Piece(p.text(), p.score(), type));
        }
        if (unkId < 0 || unkId >= pieces.size()) {
            throw new TokenizerFileException(file, "unknown token id " + unkId + " is not a token id (0 to " + (pieces.size() - 1) + ")");
        }
        // The converter marks <unk> control when the HF config calls it special; SentencePiece's type for it is unknown.
        SentencePieceModel.Piece unk = converted.get(unkId);
        converted.set(unkId, new SentencePieceModel.Piece(unk.text(), unk.score(), SentencePieceModel.UNKNOWN));
        SentencePieceTokenizer tokenizer = SentencePieceTokenizer.fromPieces(converted, unkId, bosId, eosId, addSpacePrefix, addBos, addEos);
        if (addBos && tokenizer.bosId() < 0 || addEos && tokenizer.eosId() < 0) {
            throw new TokenizerFileException(file, "BOS/EOS are to be added but there is no such token");
        }
        return tokenizer;
    }

    /** The Llama 3 pre-tokenizer regex (tokenizer.json's Split), which llama.cpp calls "llama-bpe". */
    private static final String LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /**
     * A byte-level BPE tokenizer from its parts, as a GGUF file of {@code tokenizer.ggml.model} "gpt2" stores
     * them: tokens by id (all in the BPE vocabulary; control and user-defined ones also added tokens, matched in
     * text), merges as "a b" strings, and the pre-tokenizer llama.cpp names: "llama-bpe" (Llama 3's split,
     * whole-word vocabulary hits before merges) or "gpt-2"/"default" (GPT-2's byte-level split). It is the
     * tokenizer.json these came from, read as {@link #loadHuggingFace} reads one.
     *
     * @throws TokenizerFileException naming {@code file} for another pre-tokenizer or inconsistent parts
     */
    public static Tokenizer byteLevelBpe(Path file, String[] tokens, int[] types, String[] merges, String pre, int bosId, int eosId,
                                         boolean addBos, boolean addEos) throws TokenizerFileException {
        com.fasterxml.jackson.databind.JsonNode root = byteLevelBpeJson(file, tokens, types, merges, pre);
        String bos = bosId >= 0 && bosId < tokens.length ? tokens[bosId] : null;
        String eos = eosId >= 0 && eosId < tokens.length ? tokens[eosId] : null;
        try {
            return HuggingFaceTokenizerReader.read(file, root, new TokenizerConfig(addBos, addEos, bos, eos), file);
        } catch (TokenizerFileException e) {
            throw e;
        } catch (IOException e) {
            throw new TokenizerFileException(file, "cannot read the tokenizer: " + e.getMessage(), e);
        }
    }

    /** The tokenizer.json that {@link #byteLevelBpe} reads (without BOS/EOS, which tokenizer_config.json gives). */
    public static com.fasterxml.jackson.databind.JsonNode byteLevelBpeJson(Path file, String[] tokens, int[] types, String[] merges,
                                                                         String pre) throws TokenizerFileException {
        com.fasterxml.jackson.databind.node.JsonNodeFactory f = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance;
        com.fasterxml.jackson.databind.node.ObjectNode root = f.objectNode();
        com.fasterxml.jackson.databind.node.ObjectNode model = root.putObject("model");
        boolean llama3 = switch (pre) {
            case "llama-bpe", "llama3" -> true;
            case "gpt-2", "gpt2", "default" -> false;
            default -> throw new TokenizerFileException(file, "tokenizer.ggml.pre is '" + pre.replaceAll("\\p{Cntrl}", "?")
                    + "'; Retort reads the byte-level pre-tokenizers llama-bpe and gpt-2 from GGUF");
        };
        model.put("type", "BPE").put("ignore_merges", llama3).put("byte_fallback", false).put("fuse_unk", false);
        com.fasterxml.jackson.databind.node.ObjectNode vocab = model.putObject("vocab");
        com.fasterxml.jackson.databind.node.ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < tokens.length; id++) {
            int type = types == null ? SentencePieceModel.NORMAL : types[id];
            if (vocab.has(tokens[id])) continue;   // a repeated text keeps its first id
            vocab.put(tokens[id], id);   // added tokens too: the reader gives an added token its vocabulary id
            if (type == SentencePieceModel.CONTROL || type == SentencePieceModel.USER_DEFINED) {
                added.addObject().put("id", id).put("content", tokens[id]).put("single_word", false).put("lstrip", false)
                        .put("rstrip", false).put("normalized", false).put("special", type == SentencePieceModel.CONTROL);
            }
        }
        com.fasterxml.jackson.databind.node.ArrayNode mergeList = model.putArray("merges");
        for (String m : merges) mergeList.add(m);
        com.fasterxml.jackson.databind.node.ObjectNode byteLevel = f.objectNode().put("type", "ByteLevel")
                .put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", !llama3);
        if (llama3) {
            com.fasterxml.jackson.databind.node.ObjectNode split = f.objectNode().put("type", "Split").put("behavior", "Isolated").put("invert", false);
            split.putObject("pattern").put("Regex", LLAMA3_SPLIT);
            root.putObject("pre_tokenizer").put("type", "Sequence").putArray("pretokenizers").add(split).add(byteLevel);
        } else {
            root.set("pre_tokenizer", byteLevel);
        }
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        return root;
    }
}
