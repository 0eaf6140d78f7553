package dev.retort.models.gguf;

import dev.retort.models.export.GgufWriter.ValueType;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.tokenizer.ChatTemplate;
import dev.retort.models.tokenizer.SentencePieceVocabulary;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.TokenizerFileException;
import dev.retort.models.tokenizer.Tokenizers;
import dev.retort.tensor.DType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What a Llama GGUF file says besides its tensors, read as what a Hugging Face model directory would say:
 * <ul>
 *   <li>{@link #config}: a {@link LlamaConfig} from the {@code llama.*} keys (general.architecture must be
 *       "llama"): embedding_length, feed_forward_length, block_count, attention.head_count, context_length and
 *       attention.layer_norm_rms_epsilon required; attention.head_count_kv (default head_count),
 *       attention.key_length (default embedding_length / head_count; rope.dimension_count and
 *       attention.value_length must agree with it), rope.freq_base (default 10000), vocab_size (default the
 *       number of tokens, else token_embd's rows). Tied embeddings when there is no {@code output.weight};
 *       biases when layer 0 has them; bos/eos from the tokenizer keys; the dtype from general.file_type when it
 *       is F32, F16 or BF16. RoPE scaling (rope.scaling.type other than none, a rope_freqs tensor) is refused.
 *       Sizes are bounded as config.json's are.
 *   <li>{@link #tokenizer}: tokenizer.ggml.model "llama" (SentencePiece-style: tokens, scores, token_type,
 *       unknown/bos/eos ids, add_bos_token default true, add_eos_token default false, add_space_prefix default
 *       true), as llama.cpp encodes it, except that the text of a control token stays plain text (as SentencePiece
 *       reads it); or "gpt2", byte-level BPE (tokens, token_type, merges; tokenizer.ggml.pre llama-bpe or gpt-2,
 *       others refused), read as the tokenizer.json it came from.
 *   <li>{@link #chatTemplate}: tokenizer.chat_template, with the tokenizer's BOS and EOS texts.
 * </ul>
 */
public final class GgufModel {
    private GgufModel() {}

    /** The config of the GGUF file {@code path}. */
    public static LlamaConfig config(Path path) {
        try (GgufFile file = GgufFile.open(path)) {
            return config(file);
        }
    }

    /** The tokenizer of the GGUF file {@code path}. */
    public static Tokenizer tokenizer(Path path) throws TokenizerFileException {
        try (GgufFile file = GgufFile.open(path)) {
            return tokenizer(file);
        }
    }

    /** The chat template of the GGUF file {@code path}, if it has one. */
    public static Optional<ChatTemplate> chatTemplate(Path path, Tokenizer tokenizer) {
        try (GgufFile file = GgufFile.open(path)) {
            if (!file.has("tokenizer.chat_template")) return Optional.empty();
            String source = file.string("tokenizer.chat_template");
            String bos = tokenizer != null && tokenizer.bosId() >= 0 ? tokenizer.token(tokenizer.bosId()) : null;
            String eos = tokenizer != null && tokenizer.eosId() >= 0 ? tokenizer.token(tokenizer.eosId()) : null;
            return Optional.of(new ChatTemplate(source, bos, eos));
        }
    }

    /**
     * Bytes the weights of the GGUF file {@code path} take once opened as {@link GgufWeights#open(Path, boolean)}
     * opens them: dequantised tensors at 4 bytes a weight, Q8_0 at its stored 34 bytes per 32 when {@code q8InPlace}.
     */
    public static long loadedBytes(Path path, boolean q8InPlace) {
        try (GgufWeights weights = GgufWeights.open(path, q8InPlace)) {
            return weights.loadedBytes();
        }
    }

    public static LlamaConfig config(GgufFile file) {
        String arch = file.has("general.architecture") ? file.string("general.architecture") : null;
        if (!"llama".equals(arch)) {
            throw error(file, arch == null ? "has no general.architecture; expected \"llama\""
                    : "general.architecture is " + GgufFile.quote(arch) + "; Retort reads Llama-family GGUF files (\"llama\")");
        }
        String p = arch + ".";
        int hidden = size(file, p + "embedding_length", LlamaConfig.MAX_HIDDEN_SIZE);
        int intermediate = size(file, p + "feed_forward_length", LlamaConfig.MAX_INTERMEDIATE_SIZE);
        int layers = size(file, p + "block_count", LlamaConfig.MAX_LAYERS);
        int heads = size(file, p + "attention.head_count", LlamaConfig.MAX_HEADS);
        int kvHeads = file.has(p + "attention.head_count_kv") ? size(file, p + "attention.head_count_kv", LlamaConfig.MAX_HEADS) : heads;
        if (heads % kvHeads != 0) {
            throw error(file, p + "attention.head_count (" + heads + ") is not a multiple of head_count_kv (" + kvHeads + ")");
        }
        int context = size(file, p + "context_length", LlamaConfig.MAX_POSITIONS);
        if (!file.has(p + "attention.layer_norm_rms_epsilon")) throw error(file, "has no key " + p + "attention.layer_norm_rms_epsilon");
        double eps = file.number(p + "attention.layer_norm_rms_epsilon", 0);
        if (!(eps > 0) || Double.isInfinite(eps)) throw error(file, p + "attention.layer_norm_rms_epsilon must be positive but is " + eps);
        double theta = file.number(p + "rope.freq_base", 10000.0);
        if (!(theta > 0) || Double.isInfinite(theta)) throw error(file, p + "rope.freq_base must be positive but is " + theta);

        int headDim;
        if (file.has(p + "attention.key_length")) {
            headDim = size(file, p + "attention.key_length", LlamaConfig.MAX_HEAD_DIM);
        } else {
            if (hidden % heads != 0) {
                throw error(file, p + "embedding_length (" + hidden + ") is not a multiple of head_count (" + heads + ") and there is no key_length");
            }
            headDim = hidden / heads;
            if (headDim > LlamaConfig.MAX_HEAD_DIM) throw error(file, "embedding_length / head_count is " + headDim + "; expected at most " + LlamaConfig.MAX_HEAD_DIM);
        }
        for (String key : new String[] {p + "attention.value_length", p + "rope.dimension_count"}) {
            if (file.has(key) && file.uint(key) != headDim) {
                throw error(file, key + " is " + file.uint(key) + " but the head dimension is " + headDim
                        + "; Retort's Llama rotates and attends over whole heads");
            }
        }
        if (file.has(p + "rope.scaling.type") && !"none".equals(file.string(p + "rope.scaling.type"))) {
            throw error(file, p + "rope.scaling.type is " + GgufFile.quote(file.string(p + "rope.scaling.type")) + "; RoPE scaling from a GGUF file is not read yet");
        }
        if (file.tensors().containsKey("rope_freqs.weight")) {
            throw error(file, "has a rope_freqs tensor (Llama 3.1 RoPE scaling), which Retort does not read from GGUF yet");
        }
        int vocab;
        if (file.has(p + "vocab_size")) {
            vocab = size(file, p + "vocab_size", LlamaConfig.MAX_VOCAB_SIZE);
        } else if (file.has("tokenizer.ggml.tokens")) {
            vocab = file.array("tokenizer.ggml.tokens", ValueType.STRING).length();
        } else if (file.tensors().containsKey("token_embd.weight")) {
            vocab = file.tensors().get("token_embd.weight").shape()[0];
        } else {
            throw error(file, "has no " + p + "vocab_size, tokenizer.ggml.tokens or token_embd.weight to give the vocabulary size");
        }
        if (vocab < 1 || vocab > LlamaConfig.MAX_VOCAB_SIZE) throw error(file, "the vocabulary size is " + vocab + "; expected 1 to " + LlamaConfig.MAX_VOCAB_SIZE);

        Integer bos = tokenId(file, "tokenizer.ggml.bos_token_id", vocab);
        Integer eos = tokenId(file, "tokenizer.ggml.eos_token_id", vocab);
        DType dtype = switch (file.uint("general.file_type", -1)) {
            case 0 -> DType.F32;
            case 1 -> DType.F16;
            case 32 -> DType.BF16;
            default -> null;
        };
        boolean tied = !file.tensors().containsKey("output.weight");
        return new LlamaConfig(hidden, intermediate, layers, heads, kvHeads, headDim, vocab, context, eps, theta, null, tied,
                bos, eos == null ? List.of() : List.of(eos), file.tensors().containsKey("blk.0.attn_q.bias"),
                file.tensors().containsKey("blk.0.ffn_up.bias"), dtype);
    }

    public static Tokenizer tokenizer(GgufFile file) throws TokenizerFileException {
        Path path = file.path();
        if (!file.has("tokenizer.ggml.model")) throw new TokenizerFileException(path, "has no tokenizer (tokenizer.ggml.model)");
        String model = file.string("tokenizer.ggml.model");
        if (model.equals("gpt2")) return byteLevelBpe(file);
        if (!model.equals("llama")) {
            throw new TokenizerFileException(path, "tokenizer.ggml.model is " + GgufFile.quote(model) + "; Retort reads \"llama\" (SentencePiece-style) from GGUF");
        }
        Vocabulary v = vocabulary(file);
        return Tokenizers.sentencePiece(path, v.pieces(), v.unk(), v.bos(), v.eos(), v.addSpacePrefix(), v.addBos(), v.addEos());
    }

    /** A "gpt2" (byte-level BPE) vocabulary: tokens, token types, merges and tokenizer.ggml.pre. */
    /** The parts of a "gpt2" vocabulary. */
    private record ByteLevel(String[] tokens, int[] types, String[] merges, String pre, int bos, int eos, boolean addBos, boolean addEos) {}

    private static Tokenizer byteLevelBpe(GgufFile file) throws TokenizerFileException {
        ByteLevel b = byteLevel(file);
        return Tokenizers.byteLevelBpe(file.path(), b.tokens(), b.types(), b.merges(), b.pre(), b.bos(), b.eos(), b.addBos(), b.addEos());
    }

    private static ByteLevel byteLevel(GgufFile file) throws TokenizerFileException {
        Path path = file.path();
        GgufFile.Array tokens = file.array("tokenizer.ggml.tokens", ValueType.STRING);
        if (tokens == null) throw new TokenizerFileException(path, "has no tokenizer.ggml.tokens");
        GgufFile.Array merges = file.array("tokenizer.ggml.merges", ValueType.STRING);
        if (merges == null) throw new TokenizerFileException(path, "has a byte-level BPE tokenizer without tokenizer.ggml.merges");
        long[] types = file.integers("tokenizer.ggml.token_type");
        if (types != null && types.length != tokens.length()) {
            throw new TokenizerFileException(path, "tokenizer.ggml.token_type has " + types.length + " entries for " + tokens.length() + " tokens");
        }
        int[] typeById = null;
        if (types != null) {
            typeById = new int[types.length];
            for (int i = 0; i < types.length; i++) typeById[i] = (int) Math.max(-1, Math.min(types[i], 99));
        }
        String pre = file.has("tokenizer.ggml.pre") ? file.string("tokenizer.ggml.pre") : "default";
        int bos = file.has("tokenizer.ggml.bos_token_id") ? file.uint("tokenizer.ggml.bos_token_id") : -1;
        int eos = file.has("tokenizer.ggml.eos_token_id") ? file.uint("tokenizer.ggml.eos_token_id") : -1;
        return new ByteLevel((String[]) tokens.values(), typeById, (String[]) merges.values(), pre, bos, eos,
                file.bool("tokenizer.ggml.add_bos_token", false), file.bool("tokenizer.ggml.add_eos_token", false));
    }

    /** A "llama" vocabulary as the metadata gives it. */
    private record Vocabulary(List<SentencePieceVocabulary.Piece> pieces, int unk, int bos, int eos, boolean addSpacePrefix,
                              boolean addBos, boolean addEos) {}

    private static Vocabulary vocabulary(GgufFile file) throws TokenizerFileException {
        Path path = file.path();
        GgufFile.Array tokens = file.array("tokenizer.ggml.tokens", ValueType.STRING);
        if (tokens == null) throw new TokenizerFileException(path, "has no tokenizer.ggml.tokens");
        int n = tokens.length();
        GgufFile.Array scores = file.array("tokenizer.ggml.scores", ValueType.FLOAT32);
        long[] types = file.integers("tokenizer.ggml.token_type");
        if (scores != null && scores.length() != n) {
            throw new TokenizerFileException(path, "tokenizer.ggml.scores has " + scores.length() + " entries for " + n + " tokens");
        }
        if (types != null && types.length != n) {
            throw new TokenizerFileException(path, "tokenizer.ggml.token_type has " + types.length + " entries for " + n + " tokens");
        }
        String[] texts = (String[]) tokens.values();
        float[] score = scores == null ? null : (float[]) scores.values();
        List<SentencePieceVocabulary.Piece> pieces = new ArrayList<>(n);
        int firstUnknown = -1;
        for (int id = 0; id < n; id++) {
            long type = types == null ? SentencePieceVocabulary.NORMAL : types[id];
            if (type < 0 || type > SentencePieceVocabulary.BYTE) {
                throw new TokenizerFileException(path, "token " + id + " has type " + type + "; expected 0 to 6");
            }
            if (type == SentencePieceVocabulary.UNKNOWN && firstUnknown < 0) firstUnknown = id;
            pieces.add(new SentencePieceVocabulary.Piece(texts[id], score == null ? 0f : score[id], (int) type));
        }
        int unk = idOrDefault(file, "tokenizer.ggml.unknown_token_id", firstUnknown >= 0 ? firstUnknown : 0);
        int bos = idOrDefault(file, "tokenizer.ggml.bos_token_id", 1);
        int eos = idOrDefault(file, "tokenizer.ggml.eos_token_id", 2);
        return new Vocabulary(pieces, unk, bos, eos, file.bool("tokenizer.ggml.add_space_prefix", true),
                file.bool("tokenizer.ggml.add_bos_token", true), file.bool("tokenizer.ggml.add_eos_token", false));
    }

    /**
     * Writes the tokenizer of the GGUF file {@code path} into the model directory {@code dir} as Hugging Face files:
     * a SentencePiece {@code tokenizer.model} (or, for byte-level BPE, a {@code tokenizer.json}) and a {@code tokenizer_config.json} (add_bos_token, add_eos_token,
     * the bos/eos/unk texts and the chat template), so that a model trained from a GGUF file is written as a
     * directory that tokenizes as the file did.
     */
    public static void writeTokenizerFiles(Path path, Path dir) throws java.io.IOException {
        Vocabulary v;
        String template;
        try (GgufFile file = GgufFile.open(path)) {
            tokenizer(file);   // refuses what the tokenizer would refuse
            template = file.has("tokenizer.chat_template") ? file.string("tokenizer.chat_template") : null;
            if (file.string("tokenizer.ggml.model").equals("gpt2")) {
                ByteLevel b = byteLevel(file);
                com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
                java.nio.file.Files.writeString(dir.resolve("tokenizer.json"),
                        json.writeValueAsString(Tokenizers.byteLevelBpeJson(path, b.tokens(), b.types(), b.merges(), b.pre())));
                java.util.Map<String, Object> config = new java.util.LinkedHashMap<>();
                config.put("add_bos_token", b.addBos());
                config.put("add_eos_token", b.addEos());
                if (b.bos() >= 0 && b.bos() < b.tokens().length) config.put("bos_token", b.tokens()[b.bos()]);
                if (b.eos() >= 0 && b.eos() < b.tokens().length) config.put("eos_token", b.tokens()[b.eos()]);
                if (template != null) config.put("chat_template", template);
                java.nio.file.Files.writeString(dir.resolve("tokenizer_config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(config) + "\n");
                return;
            }
            v = vocabulary(file);
        }
        List<SentencePieceVocabulary.Piece> pieces = new ArrayList<>(v.pieces());
        SentencePieceVocabulary.Piece unk = pieces.get(v.unk());
        pieces.set(v.unk(), new SentencePieceVocabulary.Piece(unk.text(), unk.score(), SentencePieceVocabulary.UNKNOWN));
        SentencePieceVocabulary.write(dir.resolve("tokenizer.model"), pieces, v.unk(), v.bos(), v.eos(), v.addSpacePrefix());
        java.util.Map<String, Object> config = new java.util.LinkedHashMap<>();
        config.put("add_bos_token", v.addBos());
        config.put("add_eos_token", v.addEos());
        if (v.bos() >= 0 && v.bos() < pieces.size()) config.put("bos_token", pieces.get(v.bos()).text());
        if (v.eos() >= 0 && v.eos() < pieces.size()) config.put("eos_token", pieces.get(v.eos()).text());
        config.put("unk_token", unk.text());
        if (template != null) config.put("chat_template", template);
        config.put("tokenizer_class", "LlamaTokenizer");
        java.nio.file.Files.writeString(dir.resolve("tokenizer_config.json"),
                new com.fasterxml.jackson.databind.ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(config) + "\n");
    }

    private static int idOrDefault(GgufFile file, String key, int absent) {
        return file.has(key) ? file.uint(key) : absent;
    }

    private static Integer tokenId(GgufFile file, String key, int vocab) {
        if (!file.has(key)) return null;
        int id = file.uint(key);
        if (id >= vocab) throw error(file, key + " is " + id + "; expected a token id in [0, " + vocab + ")");
        return id;
    }

    private static int size(GgufFile file, String key, int max) {
        if (!file.has(key)) throw error(file, "has no key " + key);
        int v = file.uint(key);
        if (v < 1 || v > max) throw error(file, key + " is " + v + "; expected 1 to " + max);
        return v;
    }

    private static ModelFileException error(GgufFile file, String problem) {
        return new ModelFileException(file.path(), problem);
    }
}
