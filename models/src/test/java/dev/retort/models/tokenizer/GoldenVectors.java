package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The golden vectors in test resources (tokenizer/), made by the reference tokenizers with the scripts in
 * tools/tokenizer/, and the tokenizer.json variants they were made with.
 */
final class GoldenVectors {

    static final ObjectMapper JSON = new ObjectMapper();

    private GoldenVectors() {}

    static JsonNode read(String resource) {
        try (InputStream in = GoldenVectors.class.getResourceAsStream("/tokenizer/" + resource)) {
            if (in == null) {
                throw new IllegalStateException("test resource tokenizer/" + resource + " is missing");
            }
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The tokenizer.json a golden variant of make_hf_golden.js was made from: a shared file as it is, or
     * with its normalizer and pre-tokenizer swapped or added tokens appended, as that script's VARIANTS say.
     */
    static Tokenizer huggingFaceVariant(String variant, Path tempDir) throws IOException {
        switch (variant) {
            case "llama2-tokenizer", "stories260K" -> {
                return Tokenizers.load(SharedAssets.resolve(variant));
            }
            case "llama3-tokenizer" -> {
                return Llama3.tokenizer();
            }
            default -> {
            }
        }
        String base = variant.startsWith("llama3") ? "llama3-tokenizer" : "llama2-tokenizer";
        ObjectNode json = (ObjectNode) JSON.readTree(SharedAssets.resolve(base + "/tokenizer.json").toFile());
        switch (variant) {
            case "llama2-metaspace-first" -> {
                json.putNull("normalizer");
                json.set("pre_tokenizer", JSON.readTree(
                        "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"first\",\"split\":false}"));
            }
            case "llama2-metaspace-always-split" -> {
                json.putNull("normalizer");
                json.set("pre_tokenizer", JSON.readTree(
                        "{\"type\":\"Metaspace\",\"replacement\":\"\u2581\",\"prepend_scheme\":\"always\",\"split\":true}"));
            }
            case "llama2-added-token-flags" -> {
                ArrayNode added = (ArrayNode) json.get("added_tokens");
                added.add(JSON.readTree("{\"id\":32000,\"content\":\"<tool>\",\"single_word\":false,\"lstrip\":true,"
                        + "\"rstrip\":true,\"normalized\":false,\"special\":false}"));
                added.add(JSON.readTree("{\"id\":32001,\"content\":\"cat\",\"single_word\":true,\"lstrip\":false,"
                        + "\"rstrip\":false,\"normalized\":false,\"special\":false}"));
                added.add(JSON.readTree("{\"id\":32002,\"content\":\"hello world\",\"single_word\":false,"
                        + "\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false}"));
            }
            case "llama3-digits-gpt2" -> json.set("pre_tokenizer", JSON.readTree("{\"type\":\"Sequence\",\"pretokenizers\":["
                    + "{\"type\":\"Digits\",\"individual_digits\":true},"
                    + "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}"));
            default -> throw new IllegalArgumentException("unknown golden variant " + variant);
        }
        Path file = Files.createDirectories(tempDir.resolve(variant)).resolve("tokenizer.json");
        JSON.writeValue(file.toFile(), json);
        return Tokenizers.load(file);
    }
}
