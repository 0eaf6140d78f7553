package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a Hugging Face {@code tokenizer.json} with a BPE model (SentencePiece-converted or byte-level) and
 * the BOS/EOS settings of its {@code tokenizer_config.json}. Anything the file asks for that Retort does
 * not implement is refused with an error naming the file, rather than encoded differently.
 */
final class HuggingFaceTokenizerReader {

    private HuggingFaceTokenizerReader() {}

    static HuggingFaceTokenizer read(Path tokenizerJson, Path tokenizerConfigJson) throws IOException {
        return read(tokenizerJson, Json.read(tokenizerJson), TokenizerConfig.readIfPresent(tokenizerConfigJson), tokenizerConfigJson);
    }

    /** A tokenizer from the parsed JSON {@code root} of {@code file} (or JSON made from another format). */
    static HuggingFaceTokenizer read(Path file, JsonNode root, TokenizerConfig config, Path tokenizerConfigJson) throws IOException {
        JsonNode model = root.get("model");
        if (model == null || !model.isObject()) {
            throw new TokenizerFileException(file, "has no \"model\" object");
        }
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw new TokenizerFileException(file, "model type '" + type + "' is not supported (only BPE)");
        }
        refuseUnsupportedBpeOptions(model, file);

        Map<String, Integer> vocab = readVocab(model, file);
        List<AddedToken> addedTokens = readAddedTokens(root, vocab, file);
        int size = 0;
        for (int id : vocab.values()) {
            size = Math.max(size, id + 1);
        }
        for (AddedToken token : addedTokens) {
            size = Math.max(size, token.id() + 1);
        }
        String[] tokenById = new String[size];
        vocab.forEach((token, id) -> tokenById[id] = token);
        Map<String, Integer> idByToken = new HashMap<>(vocab);
        boolean[] special = new boolean[size];
        for (AddedToken token : addedTokens) {
            tokenById[token.id()] = token.content(); // HF looks ids up in the added vocabulary first
            idByToken.put(token.content(), token.id());
            special[token.id()] = token.special();
        }

        int unkId = -1;
        JsonNode unk = model.get("unk_token");
        if (unk != null && !unk.isNull()) {
            Integer id = vocab.get(unk.asText());
            if (id == null) {
                throw new TokenizerFileException(file, "model unk_token '" + unk.asText() + "' is not in the vocab");
            }
            unkId = id;
        }
        MergeRankBpe bpe = new MergeRankBpe(vocab, readMerges(model, vocab, file), unkId,
                HuggingFaceJson.flag(model, "fuse_unk", false), HuggingFaceJson.flag(model, "byte_fallback", false),
                HuggingFaceJson.flag(model, "ignore_merges", false));

        TextNormalizer normalizer = TextNormalizer.fromJson(root.get("normalizer"), file);
        PreTokenizer preTokenizer = PreTokenizer.fromJson(root.get("pre_tokenizer"), file);
        // HF decodes a normalized added token from its normalized text (e.g. "▁hello▁world").
        String[] decodedFormById = tokenById.clone();
        for (AddedToken token : addedTokens) {
            if (token.normalized()) {
                decodedFormById[token.id()] = normalizer.apply(token.content());
            }
        }
        HuggingFaceDecoding decoding = HuggingFaceDecoding.fromJson(root.get("decoder"), decodedFormById, special, file);

        List<AddedToken> raw = new ArrayList<>();
        List<String> rawPatterns = new ArrayList<>();
        List<AddedToken> normalized = new ArrayList<>();
        List<String> normalizedPatterns = new ArrayList<>();
        for (AddedToken token : addedTokens) {
            if (token.normalized()) {
                normalized.add(token);
                normalizedPatterns.add(normalizer.apply(token.content()));
            } else {
                raw.add(token);
                rawPatterns.add(token.content());
            }
        }

        Template template = readTemplate(root.get("post_processor"), file);
        if (Math.max(template.prefixId(), template.suffixId()) >= size) {
            throw new TokenizerFileException(file, "post_processor adds token id "
                    + Math.max(template.prefixId(), template.suffixId()) + "; expected an id in [0, " + size + ")");
        }
        int bosId = config.bosToken() != null ? idOf(config.bosToken(), idByToken, "bos_token", tokenizerConfigJson)
                : template.prefixId();
        int eosId = config.eosToken() != null ? idOf(config.eosToken(), idByToken, "eos_token", tokenizerConfigJson)
                : template.suffixId();
        boolean addsBos = config.addBosToken() != null ? config.addBosToken() : template.prefixId() >= 0;
        boolean addsEos = config.addEosToken() != null ? config.addEosToken() : template.suffixId() >= 0;
        if (addsBos && bosId < 0 || addsEos && eosId < 0) {
            throw new TokenizerFileException(tokenizerConfigJson == null ? file : tokenizerConfigJson,
                    "asks to add " + (addsBos && bosId < 0 ? "a BOS" : "an EOS") + " token but names none");
        }
        return new HuggingFaceTokenizer(new HuggingFaceTokenizer.Parts(tokenById, idByToken,
                new AddedTokenSplitter(raw, rawPatterns), new AddedTokenSplitter(normalized, normalizedPatterns),
                normalizer, preTokenizer, bpe, decoding, bosId, eosId, addsBos, addsEos));
    }

    private static void refuseUnsupportedBpeOptions(JsonNode model, Path file) throws TokenizerFileException {
        JsonNode dropout = model.get("dropout");
        if (dropout != null && !dropout.isNull() && dropout.asDouble() != 0.0) {
            throw new TokenizerFileException(file, "model dropout " + dropout + " is not supported (BPE dropout is "
                    + "random; Retort encodes deterministically)");
        }
        for (String field : new String[] {"continuing_subword_prefix", "end_of_word_suffix"}) {
            JsonNode value = model.get(field);
            if (value != null && !value.isNull() && !value.asText().isEmpty()) {
                throw new TokenizerFileException(file, "model " + field + " '" + value.asText() + "' is not supported");
            }
        }
    }

    private static Map<String, Integer> readVocab(JsonNode model, Path file) throws TokenizerFileException {
        JsonNode vocabJson = model.get("vocab");
        if (vocabJson == null || !vocabJson.isObject()) {
            throw new TokenizerFileException(file, "model has no \"vocab\" object");
        }
        // Ids index arrays sized by the largest one, so they must be dense: [0, entries), whole numbers.
        int entries = vocabJson.size();
        Map<String, Integer> vocab = new HashMap<>(entries * 2);
        java.util.BitSet ids = new java.util.BitSet(entries);
        for (Map.Entry<String, JsonNode> entry : vocabJson.properties()) {
            JsonNode id = entry.getValue();
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= entries) {
                throw new TokenizerFileException(file, "vocab entry '" + entry.getKey() + "' has id "
                        + (id.toString().length() > 40 ? id.toString().substring(0, 40) + "…" : id)
                        + "; expected a whole number in [0, " + entries + ") (the vocab's size)");
            }
            if (ids.get(id.asInt())) {
                throw new TokenizerFileException(file, "vocab entry '" + entry.getKey() + "' has id " + id.asInt()
                        + ", which another entry has too; expected each id once");
            }
            ids.set(id.asInt());
            vocab.put(entry.getKey(), id.asInt());
        }
        return vocab;
    }

    /** The merges as [left id, right id, merged id] by rank; lines are "a b" strings or [a, b] pairs. */
    private static int[][] readMerges(JsonNode model, Map<String, Integer> vocab, Path file)
            throws TokenizerFileException {
        JsonNode mergesJson = HuggingFaceJson.requiredArray(model, "merges", file, "model");
        int[][] merges = new int[mergesJson.size()][];
        for (int rank = 0; rank < merges.length; rank++) {
            JsonNode line = mergesJson.get(rank);
            String left;
            String right;
            if (line.isTextual()) {
                String text = line.asText();
                int space = text.indexOf(' ');
                if (space <= 0 || space == text.length() - 1 || text.indexOf(' ', space + 1) >= 0) {
                    throw new TokenizerFileException(file, "merges[" + rank + "] \"" + text
                            + "\" is not two tokens separated by one space");
                }
                left = text.substring(0, space);
                right = text.substring(space + 1);
            } else if (line.isArray() && line.size() == 2 && line.get(0).isTextual() && line.get(1).isTextual()) {
                left = line.get(0).asText();
                right = line.get(1).asText();
            } else {
                throw new TokenizerFileException(file, "merges[" + rank + "] is " + line
                        + ", not \"a b\" or [\"a\", \"b\"]");
            }
            Integer leftId = vocab.get(left);
            Integer rightId = vocab.get(right);
            Integer mergedId = vocab.get(left + right);
            if (leftId == null || rightId == null || mergedId == null) {
                String missing = leftId == null ? left : rightId == null ? right : left + right;
                throw new TokenizerFileException(file, "merges[" + rank + "] joins '" + left + "' and '" + right
                        + "' but '" + missing + "' is not in the vocab");
            }
            merges[rank] = new int[] {leftId, rightId, mergedId};
        }
        return merges;
    }

    /**
     * The added tokens, with the ids HF gives them when it reads the file: a token whose text is already in
     * the vocabulary takes that id, any other the next id after the model's vocabulary, in file order (the
     * ids written in the file only draw a warning from HF when they differ, so they are not used here).
     */
    private static List<AddedToken> readAddedTokens(JsonNode root, Map<String, Integer> vocab, Path file)
            throws TokenizerFileException {
        Map<String, AddedToken> byContent = new LinkedHashMap<>();
        JsonNode array = root.get("added_tokens");
        if (array == null || array.isNull()) {
            return List.of();
        }
        if (!array.isArray()) {
            throw new TokenizerFileException(file, "\"added_tokens\" is not an array");
        }
        int nextId = vocab.size();
        for (JsonNode token : array) {
            if (!token.path("content").isTextual()) {
                throw new TokenizerFileException(file, "added token " + token + " has no text \"content\"");
            }
            String content = token.get("content").asText();
            if (content.isEmpty()) {
                continue;
            }
            Integer id = byContent.containsKey(content) ? Integer.valueOf(byContent.get(content).id()) : vocab.get(content);
            if (id == null) {
                id = nextId++;
            }
            byContent.put(content, new AddedToken(id, content, HuggingFaceJson.flag(token, "special", false),
                    HuggingFaceJson.flag(token, "single_word", false), HuggingFaceJson.flag(token, "lstrip", false),
                    HuggingFaceJson.flag(token, "rstrip", false), HuggingFaceJson.flag(token, "normalized", true)));
        }
        return new ArrayList<>(byContent.values());
    }

    /** The special tokens a post-processor puts before and after a single sequence (-1: none). */
    private record Template(int prefixId, int suffixId) {}

    private static Template readTemplate(JsonNode json, Path file) throws TokenizerFileException {
        if (json == null || json.isNull()) {
            return new Template(-1, -1);
        }
        String type = HuggingFaceJson.requiredText(json, "type", file, "post_processor");
        switch (type) {
            case "ByteLevel" -> {
                return new Template(-1, -1); // it only adjusts offsets
            }
            case "Sequence" -> {
                Template found = new Template(-1, -1);
                for (JsonNode step : HuggingFaceJson.requiredArray(json, "processors", file, "post_processor")) {
                    Template template = readTemplate(step, file);
                    if (template.prefixId() >= 0 || template.suffixId() >= 0) {
                        found = template;
                    }
                }
                return found;
            }
            case "TemplateProcessing" -> {
                JsonNode single = HuggingFaceJson.requiredArray(json, "single", file, "post_processor");
                List<Integer> before = new ArrayList<>();
                List<Integer> after = new ArrayList<>();
                boolean seenSequence = false;
                for (JsonNode item : single) {
                    if (item.has("Sequence")) {
                        seenSequence = true;
                        continue;
                    }
                    String name = item.path("SpecialToken").path("id").asText(null);
                    JsonNode ids = json.path("special_tokens").path(name == null ? "" : name).path("ids");
                    if (name == null || !ids.isArray()) {
                        throw new TokenizerFileException(file, "post_processor template item " + item
                                + " names no special token with ids");
                    }
                    for (JsonNode id : ids) {
                        if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) {
                            throw new TokenizerFileException(file, "post_processor special token " + name + " has id "
                                    + id + "; expected a token id");
                        }
                        (seenSequence ? after : before).add(id.asInt());
                    }
                }
                if (before.size() > 1 || after.size() > 1) {
                    throw new TokenizerFileException(file, "post_processor template " + single
                            + " is not supported (at most one special token before and one after the text)");
                }
                return new Template(before.isEmpty() ? -1 : before.get(0), after.isEmpty() ? -1 : after.get(0));
            }
            default -> throw new TokenizerFileException(file, "post_processor type '" + type
                    + "' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)");
        }
    }

    private static int idOf(String token, Map<String, Integer> idByToken, String field, Path configFile)
            throws TokenizerFileException {
        Integer id = idByToken.get(token);
        if (id == null) {
            throw new TokenizerFileException(configFile, field + " '" + token + "' is not in the vocabulary");
        }
        return id;
    }
}
