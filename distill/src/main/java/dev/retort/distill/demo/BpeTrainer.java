package dev.retort.distill.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Trains a small SentencePiece-style BPE vocabulary on a text and writes it as a Hugging Face
 * {@code tokenizer.json} (+ {@code tokenizer_config.json}) in the layout HF's Llama converter produces:
 * "▁" marks a word start, 256 byte tokens make any text encodable (byte fallback), BOS is added.
 *
 * <p>Training is the textbook algorithm: words (with their ▁) as symbol sequences weighted by frequency;
 * repeatedly merge the most frequent adjacent pair (ties: the pair first in sorted order) until the
 * vocabulary reaches its size.
 */
public final class BpeTrainer {
    private BpeTrainer() {}

    public static void train(String text, int vocabSize, Path dir) throws IOException {
        // Word frequencies; a word carries its leading ▁ as the HF converter's normaliser adds it.
        Map<String, Integer> words = new HashMap<>();
        for (String w : text.split("\\s+")) {
            if (!w.isEmpty()) words.merge("▁" + w, 1, Integer::sum);
        }
        List<String> vocab = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        for (int b = 0; b < 256; b++) vocab.add(String.format("<0x%02X>", b));
        TreeSet<String> chars = new TreeSet<>();
        for (String w : words.keySet()) w.codePoints().forEach(cp -> chars.add(new String(Character.toChars(cp))));
        vocab.addAll(chars);

        Map<String, List<String>> splits = new LinkedHashMap<>();
        for (String w : new TreeSet<>(words.keySet())) {
            List<String> symbols = new ArrayList<>();
            w.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
            splits.put(w, symbols);
        }
        List<String> merges = new ArrayList<>();
        while (vocab.size() < vocabSize) {
            Map<String, Integer> pairs = new HashMap<>();
            for (Map.Entry<String, List<String>> e : splits.entrySet()) {
                List<String> s = e.getValue();
                int f = words.get(e.getKey());
                for (int i = 0; i + 1 < s.size(); i++) pairs.merge(s.get(i) + " " + s.get(i + 1), f, Integer::sum);
            }
            if (pairs.isEmpty()) break;
            String best = null;
            for (Map.Entry<String, Integer> p : new java.util.TreeMap<>(pairs).entrySet()) {
                if (best == null || p.getValue() > pairs.get(best)) best = p.getKey();
            }
            String[] ab = best.split(" ");
            String merged = ab[0] + ab[1];
            merges.add(best);
            if (!vocab.contains(merged)) vocab.add(merged);
            for (List<String> s : splits.values()) {
                for (int i = 0; i + 1 < s.size(); i++) {
                    if (s.get(i).equals(ab[0]) && s.get(i + 1).equals(ab[1])) {
                        s.set(i, merged);
                        s.remove(i + 1);
                    }
                }
            }
        }
        write(dir, vocab, merges);
    }

    private static void write(Path dir, List<String> vocab, List<String> merges) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < 3; i++) {
            ObjectNode t = added.addObject();
            t.put("id", i).put("content", vocab.get(i)).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", true);
        }
        ObjectNode normalizer = root.putObject("normalizer");
        normalizer.put("type", "Sequence");
        ArrayNode norms = normalizer.putArray("normalizers");
        norms.addObject().put("type", "Prepend").put("prepend", "▁");
        ObjectNode replace = norms.addObject().put("type", "Replace");
        replace.putObject("pattern").put("String", " ");
        replace.put("content", "▁");
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 1);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode special = post.putObject("special_tokens").putObject("<s>");
        special.put("id", "<s>");
        special.putArray("ids").add(1);
        special.putArray("tokens").add("<s>");
        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "Sequence");
        ArrayNode decoders = decoder.putArray("decoders");
        ObjectNode dReplace = decoders.addObject().put("type", "Replace");
        dReplace.putObject("pattern").put("String", "▁");
        dReplace.put("content", " ");
        decoders.addObject().put("type", "ByteFallback");
        decoders.addObject().put("type", "Fuse");
        decoders.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.put("unk_token", "<unk>").putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true).put("byte_fallback", true);
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < vocab.size(); i++) v.put(vocab.get(i), i);
        ArrayNode m = model.putArray("merges");
        merges.forEach(m::add);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("tokenizer.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(root), StandardCharsets.UTF_8);

        ObjectNode config = json.createObjectNode();
        config.put("add_bos_token", true).put("add_eos_token", false);
        config.put("bos_token", "<s>").put("eos_token", "</s>").put("unk_token", "<unk>");
        config.put("clean_up_tokenization_spaces", false).put("legacy", true);
        config.put("tokenizer_class", "LlamaTokenizer");
        Files.writeString(dir.resolve("tokenizer_config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(config), StandardCharsets.UTF_8);
    }
}
