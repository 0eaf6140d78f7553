package dev.retort.models.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.tokenizer.SentencePieceVocabulary;
import dev.retort.models.tokenizer.SpecialTokenText;
import dev.retort.models.tokenizer.Tokenizer;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code tokenizer.*} keys of a GGUF file, made from a Hugging Face model directory the way llama.cpp's
 * {@code convert_hf_to_gguf.py} makes them for a Llama:
 * <ul>
 *   <li>with a {@code tokenizer.model}: model "llama", pre "default", one token per id up to the config's
 *       vocab_size (SentencePiece's piece, score and type; ids past the model's pieces are {@code [PADi]},
 *       score −10000, unused), then every {@code added_tokens_decoder} entry of {@code tokenizer_config.json}
 *       overrides its id with score −1000 and type control (special, or looking special such as
 *       {@code <|...|>}) or user-defined (its U+2581 turned into spaces);
 *   <li>else a byte-level BPE {@code tokenizer.json}: model "gpt2", pre named by the hash of the token ids of
 *       the converter's check text (as {@code get_vocab_base_pre}), tokens by id (added tokens control or
 *       user-defined, gaps {@code [PADi]} unused), and the merges as "a b" strings.
 * </ul>
 * Then, as gguf-py's {@code SpecialVocab}: the bos/eos/unk/sep/pad ids (the token named in
 * {@code tokenizer_config.json} found among {@code tokenizer.json}'s added tokens, else {@code config.json}'s
 * {@code *_token_id}), {@code add_bos_token}/{@code add_eos_token} (the post-processor's template, then the
 * config's flags), and the chat template.
 */
final class GgufVocabulary {
    static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> SPECIAL_TYPES = List.of("bos", "eos", "unk", "sep", "pad", "cls", "mask");
    /** The GGUF key of each special token id gguf-py writes (cls has none). */
    private static final Map<String, String> ID_KEYS = Map.of("bos", "tokenizer.ggml.bos_token_id",
            "eos", "tokenizer.ggml.eos_token_id", "unk", "tokenizer.ggml.unknown_token_id",
            "sep", "tokenizer.ggml.seperator_token_id", "pad", "tokenizer.ggml.padding_token_id",
            "mask", "tokenizer.ggml.mask_token_id");
    /** Special types whose add_*_token flag gguf-py writes. */
    private static final List<String> ADD_FLAGS = List.of("bos", "eos", "sep");

    /**
     * The converter's pre-tokenizer check text ({@code chktxt} in convert_hf_to_gguf.py): its token ids' SHA-256
     * names the pre-tokenizer llama.cpp must use for a BPE vocabulary.
     */
    static final String PRE_CHECK_TEXT = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n\uD83D\uDE80 (normal) "
            + "\uD83D\uDE36\u200D\uD83C\uDF2B\uFE0F (multiple emojis concatenated) \u2705 \uD83E\uDD99\uD83E\uDD99 3 33 333 3333 "
            + "33333 333333 3333333 33333333 3.3 3..3 3...3 \u1780\u17B6\u1793\u17CB\u178F\u17C2\u1796\u17B7\u179F\u17C1\u179F"
            + "\u17A2\u17B6\u1785\uD83D\uDE01 ?\u6211\u60F3\u5728apple\u5DE5\u4F5C1314151\u5929\uFF5E ------======= "
            + "\u043D\u0435\u0449\u043E \u043D\u0430 \u0411\u044A\u043B\u0433\u0430\u0440\u0441\u043A\u0438 ''''''```````\"\"\"\"......"
            + "!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";
    /** Pre-tokenizer names by check hash, for the families Retort reads (from the converter's table). */
    static final Map<String, String> PRE_BY_HASH = Map.of(
            "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5", "llama-bpe",
            "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454", "gpt-2");

    private GgufVocabulary() {}

    /** Puts the tokenizer keys of the model in {@code dir} (vocabulary of {@code vocabSize} ids). */
    static void put(GgufWriter out, Path dir, int vocabSize) {
        try {
            JsonNode tokenizerJson = readIfPresent(dir.resolve("tokenizer.json"));
            JsonNode tokenizerConfig = readIfPresent(dir.resolve("tokenizer_config.json"));
            boolean mergesWanted;
            if (Files.isRegularFile(dir.resolve("tokenizer.model"))) {
                putSentencePiece(out, dir, tokenizerConfig, vocabSize);
                mergesWanted = false;
            } else if (tokenizerJson != null && "BPE".equals(tokenizerJson.path("model").path("type").asText())) {
                putByteLevelBpe(out, dir, tokenizerJson, vocabSize);
                mergesWanted = true;
            } else {
                throw new ModelFileException(dir, "has neither a tokenizer.model nor a BPE tokenizer.json, so GGUF export has no vocabulary to write");
            }
            if (mergesWanted) out.putStringArray("tokenizer.ggml.merges", merges(tokenizerJson));
            putSpecials(out, dir, tokenizerJson, tokenizerConfig, vocabSize);
        } catch (IOException e) {
            throw new ModelFileException(dir, "cannot read the tokenizer: " + e.getMessage(), e);
        }
    }

    private static void putSentencePiece(GgufWriter out, Path dir, JsonNode tokenizerConfig, int vocabSize) throws IOException {
        List<SentencePieceVocabulary.Piece> pieces = SentencePieceVocabulary.read(dir.resolve("tokenizer.model"));
        byte[][] tokens = new byte[vocabSize][];
        float[] scores = new float[vocabSize];
        int[] types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++) {
            tokens[id] = ("[PAD" + id + "]").getBytes(StandardCharsets.UTF_8);
            scores[id] = -10000f;
            types[id] = UNUSED;
        }
        for (int id = 0; id < Math.min(vocabSize, pieces.size()); id++) {
            SentencePieceVocabulary.Piece p = pieces.get(id);
            tokens[id] = p.text().getBytes(StandardCharsets.UTF_8);
            scores[id] = p.score();
            types[id] = switch (p.type()) {
                case SentencePieceVocabulary.UNKNOWN, SentencePieceVocabulary.CONTROL, SentencePieceVocabulary.UNUSED,
                     SentencePieceVocabulary.BYTE -> p.type();
                default -> NORMAL;   // user-defined pieces of the model file count as normal, as in the converter
            };
        }
        if (tokenizerConfig != null) {
            for (Map.Entry<String, JsonNode> e : tokenizerConfig.path("added_tokens_decoder").properties()) {
                int id = Integer.parseInt(e.getKey());
                if (id < 0 || id >= vocabSize) {
                    throw new ModelFileException(dir, "tokenizer_config.json: added token id " + id + " is outside the vocabulary of " + vocabSize);
                }
                String content = e.getValue().path("content").asText();
                boolean control = e.getValue().path("special").asBoolean(false) || looksSpecial(content);
                if (!control) content = content.replace('\u2581', ' ');
                types[id] = control ? CONTROL : USER_DEFINED;
                scores[id] = -1000f;
                tokens[id] = content.getBytes(StandardCharsets.UTF_8);
            }
        }
        out.putString("tokenizer.ggml.model", "llama");
        out.putString("tokenizer.ggml.pre", "default");
        out.putStringArray("tokenizer.ggml.tokens", Arrays.asList(tokens));
        out.putFloat32Array("tokenizer.ggml.scores", scores);
        out.putInt32Array("tokenizer.ggml.token_type", types);
    }

    private static void putByteLevelBpe(GgufWriter out, Path dir, JsonNode tokenizerJson, int vocabSize) throws IOException {
        String[] byId = new String[vocabSize];
        for (Map.Entry<String, JsonNode> e : tokenizerJson.path("model").path("vocab").properties()) {
            int id = e.getValue().asInt(-1);
            if (id < 0 || id >= vocabSize) {
                throw new ModelFileException(dir, "tokenizer.json: token '" + e.getKey() + "' has id " + e.getValue() + ", outside the vocabulary of " + vocabSize);
            }
            byId[id] = e.getKey();
        }
        int[] types = new int[vocabSize];
        Arrays.fill(types, NORMAL);
        for (JsonNode added : tokenizerJson.path("added_tokens")) {
            int id = added.path("id").asInt(-1);
            String content = added.path("content").asText();
            if (id < 0 || id >= vocabSize) continue;
            boolean control = added.path("special").asBoolean(false) || looksSpecial(content);
            byId[id] = control ? content : content.replace('\u2581', ' ');
            types[id] = control ? CONTROL : USER_DEFINED;
        }
        List<byte[]> tokens = new ArrayList<>(vocabSize);
        for (int id = 0; id < vocabSize; id++) {
            if (byId[id] == null) {
                byId[id] = "[PAD" + id + "]";
                types[id] = UNUSED;
            }
            tokens.add(byId[id].getBytes(StandardCharsets.UTF_8));
        }
        out.putString("tokenizer.ggml.model", "gpt2");
        out.putString("tokenizer.ggml.pre", preTokenizer(dir));
        out.putStringArray("tokenizer.ggml.tokens", tokens);
        out.putInt32Array("tokenizer.ggml.token_type", types);
    }

    /**
     * The pre-tokenizer name llama.cpp knows this BPE vocabulary by: the SHA-256 of the check text's ids (with
     * the tokenizer's default BOS, formatted as a Python list) looked up in the converter's table; "default",
     * with a warning, when the vocabulary is not one Retort knows.
     */
    static String preTokenizer(Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizers.load(dir);
        int[] ids = tokenizer.encode(PRE_CHECK_TEXT, tokenizer.addsBosByDefault(), tokenizer.addsEosByDefault(), SpecialTokenText.SPECIAL);
        String hash = sha256(Arrays.toString(ids));
        String pre = PRE_BY_HASH.get(hash);
        if (pre == null) {
            System.err.println("warning: the BPE pre-tokenizer of " + dir + " (check hash " + hash
                    + ") is not one Retort knows; writing tokenizer.ggml.pre \"default\", which llama.cpp may tokenize differently");
            pre = "default";
        }
        return pre;
    }

    /** The merges as "a b" strings; pairs of the newer [a, b] form are joined with spaces inside a part as U+0120. */
    private static List<byte[]> merges(JsonNode tokenizerJson) {
        List<byte[]> merges = new ArrayList<>();
        for (JsonNode m : tokenizerJson.path("model").path("merges")) {
            String line = m.isTextual() ? m.asText()
                    : m.get(0).asText().replace(' ', '\u0120') + " " + m.get(1).asText().replace(' ', '\u0120');
            merges.add(line.getBytes(StandardCharsets.UTF_8));
        }
        return merges;
    }

    private static void putSpecials(GgufWriter out, Path dir, JsonNode tokenizerJson, JsonNode tokenizerConfig, int vocabSize)
            throws IOException {
        Map<String, Integer> ids = new LinkedHashMap<>();
        Map<String, Boolean> adds = new LinkedHashMap<>();
        if (tokenizerJson != null && tokenizerConfig != null) {
            templateAdds(tokenizerJson, tokenText(tokenizerConfig.get("bos_token")), tokenText(tokenizerConfig.get("eos_token")),
                    tokenText(tokenizerConfig.get("sep_token")), adds);
        }
        if (tokenizerConfig != null) {
            for (String type : SPECIAL_TYPES) {
                JsonNode add = tokenizerConfig.get("add_" + type + "_token");
                if (add != null && add.isBoolean()) adds.put(type, add.asBoolean());
                String text = tokenText(tokenizerConfig.get(type + "_token"));
                if (text == null || tokenizerJson == null) continue;
                for (JsonNode added : tokenizerJson.path("added_tokens")) {
                    if (text.equals(added.path("content").asText(null))) {
                        if (added.path("id").isInt()) setSpecial(ids, type, added.get("id").asInt(), vocabSize);
                        break;
                    }
                }
            }
        }
        JsonNode config = readIfPresent(dir.resolve("config.json"));
        if (config != null) {
            for (String type : SPECIAL_TYPES) {
                JsonNode id = config.get(type + "_token_id");
                if (id != null && id.isInt()) setSpecial(ids, type, id.asInt(), vocabSize);
            }
        }
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            if (ID_KEYS.containsKey(e.getKey())) out.putUint32(ID_KEYS.get(e.getKey()), e.getValue());
        }
        for (Map.Entry<String, Boolean> e : adds.entrySet()) {
            if (ADD_FLAGS.contains(e.getKey())) out.putBool("tokenizer.ggml.add_" + e.getKey() + "_token", e.getValue());
        }
        String template = chatTemplate(dir, tokenizerConfig);
        if (template != null && !template.isEmpty()) out.putString("tokenizer.chat_template", template);
    }

    /** The first id given for a type wins; ids outside the vocabulary are skipped. */
    private static void setSpecial(Map<String, Integer> ids, String type, int id, int vocabSize) {
        if (id >= 0 && id < vocabSize) ids.putIfAbsent(type, id);
    }

    /**
     * gguf-py's reading of a TemplateProcessing post-processor: a special token first in the single template
     * sets add_bos (true when it is the BOS text), one last sets add_eos; in the pair template "A x B" or
     * "A x y B", add_sep is true when x (with no trailing special in single) or y is the SEP or EOS text.
     */
    private static void templateAdds(JsonNode tokenizerJson, String bos, String eos, String sep, Map<String, Boolean> adds) {
        JsonNode post = tokenizerJson.path("post_processor");
        List<JsonNode> processors = new ArrayList<>();
        if (post.has("processors")) post.get("processors").forEach(processors::add);
        else if (post.isObject()) processors.add(post);
        for (JsonNode p : processors) {
            if (!"TemplateProcessing".equals(p.path("type").asText())) continue;
            JsonNode single = p.path("single"), pair = p.path("pair");
            String first = null, last = null;
            if (single.size() > 1) {
                first = special(single.get(0));
                if (first != null) adds.put("bos", first.equals(bos));
                last = special(single.get(single.size() - 1));
                if (last != null) adds.put("eos", last.equals(eos));
            }
            if (pair.size() == 0) continue;
            int start = first != null && first.equals(special(pair.get(0))) ? 1 : 0;
            int stop = last != null && last.equals(special(pair.get(pair.size() - 1))) ? pair.size() - 1 : pair.size();
            if (stop - start < 3) continue;   // no middle between A and B
            if (!"A".equals(pair.get(start).path("Sequence").path("id").asText(null))
                    || !"B".equals(pair.get(stop - 1).path("Sequence").path("id").asText(null))) continue;
            boolean addSep = false;
            String x = special(pair.get(start + 1));
            if (x != null && (x.equals(sep) || x.equals(eos)) && last == null) addSep = true;
            if (stop - start == 4) {
                String y = special(pair.get(start + 2));
                if (y != null && (y.equals(sep) || y.equals(eos))) addSep = true;
            }
            adds.put("sep", addSep);
        }
    }

    private static String special(JsonNode templatePiece) {
        return templatePiece.path("SpecialToken").path("id").asText(null);
    }

    /** {@code chat_template} of the tokenizer config (a string, or the "default" of a list), else chat_template.jinja. */
    private static String chatTemplate(Path dir, JsonNode tokenizerConfig) throws IOException {
        JsonNode t = tokenizerConfig == null ? null : tokenizerConfig.get("chat_template");
        if (t != null && t.isTextual()) return t.asText();
        if (t != null && t.isArray()) {
            for (JsonNode named : t) if ("default".equals(named.path("name").asText())) return named.path("template").asText(null);
        }
        Path jinja = dir.resolve("chat_template.jinja");
        return Files.isRegularFile(jinja) ? Files.readString(jinja, StandardCharsets.UTF_8) : null;
    }

    /** The converter's test for added tokens that ought to be control tokens even when not marked special. */
    static boolean looksSpecial(String text) {
        return text.equals("<pad>") || text.equals("<mask>") || text.equals("<2mass>") || text.equals("[@BOS@]")
                || (text.startsWith("<|") && text.endsWith("|>"))
                || (text.startsWith("<\uFF5C") && text.endsWith("\uFF5C>"))
                || (text.startsWith("<unused") && text.endsWith(">"));
    }

    private static String tokenText(JsonNode v) {
        if (v == null || v.isNull()) return null;
        if (v.isTextual()) return v.asText();
        JsonNode content = v.get("content");
        return content != null && content.isTextual() ? content.asText() : null;
    }

    private static JsonNode readIfPresent(Path file) throws IOException {
        return Files.isRegularFile(file) ? JSON.readTree(file.toFile()) : null;
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
