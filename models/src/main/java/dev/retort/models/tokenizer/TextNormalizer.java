package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code normalizer} of a {@code tokenizer.json}, applied to each piece of input between added tokens.
 * Llama 2 style files use {@code Sequence[Prepend "▁", Replace " " → "▁"]}.
 */
interface TextNormalizer extends UnaryOperator<String> {

    TextNormalizer IDENTITY = text -> text;

    /** Builds the normalizer a {@code tokenizer.json} describes ({@code null} JSON: none). */
    static TextNormalizer fromJson(JsonNode json, Path file) throws TokenizerFileException {
        if (json == null || json.isNull()) {
            return IDENTITY;
        }
        String type = HuggingFaceJson.requiredText(json, "type", file, "normalizer");
        switch (type) {
            case "Sequence" -> {
                List<TextNormalizer> steps = new ArrayList<>();
                for (JsonNode step : HuggingFaceJson.requiredArray(json, "normalizers", file, "normalizer")) {
                    steps.add(fromJson(step, file));
                }
                return text -> {
                    for (TextNormalizer step : steps) {
                        text = step.apply(text);
                    }
                    return text;
                };
            }
            case "Prepend" -> {
                String prefix = HuggingFaceJson.requiredText(json, "prepend", file, "normalizer Prepend");
                return text -> text.isEmpty() ? text : prefix + text;
            }
            case "Replace" -> {
                String content = HuggingFaceJson.requiredText(json, "content", file, "normalizer Replace");
                Pattern pattern = HuggingFaceJson.pattern(json.get("pattern"), file, "normalizer Replace");
                String replacement = Matcher.quoteReplacement(content);
                return text -> pattern.matcher(text).replaceAll(replacement);
            }
            case "NFC" -> {
                return text -> Normalizer.normalize(text, Normalizer.Form.NFC);
            }
            case "NFD" -> {
                return text -> Normalizer.normalize(text, Normalizer.Form.NFD);
            }
            case "NFKC" -> {
                return text -> Normalizer.normalize(text, Normalizer.Form.NFKC);
            }
            case "NFKD" -> {
                return text -> Normalizer.normalize(text, Normalizer.Form.NFKD);
            }
            case "Lowercase" -> {
                return text -> text.toLowerCase(Locale.ROOT);
            }
            default -> throw new TokenizerFileException(file, "normalizer type '" + type
                    + "' is not supported (supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase)");
        }
    }
}
