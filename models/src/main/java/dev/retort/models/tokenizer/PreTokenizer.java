package dev.retort.models.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code pre_tokenizer} of a {@code tokenizer.json}: cuts each normalized piece of input into the words
 * that BPE encodes one by one (and for byte-level models rewrites them in the byte alphabet).
 */
interface PreTokenizer {

    /** A piece of input; {@code atInputStart} when it begins at offset 0 of the original text. */
    record Piece(String text, boolean atInputStart) {}

    /** Appends the words of one piece to {@code out}; empty words are never appended. */
    void split(Piece piece, List<Piece> out);

    /** The GPT-2 split regex that ByteLevel uses when {@code use_regex} is true. */
    String GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** How the matches of a split pattern join the text around them (HF's SplitDelimiterBehavior). */
    enum Behavior { REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS }

    /** Builds the pre-tokenizer a {@code tokenizer.json} describes; {@code null} JSON: none. */
    static PreTokenizer fromJson(JsonNode json, Path file) throws TokenizerFileException {
        if (json == null || json.isNull()) {
            return null;
        }
        String type = HuggingFaceJson.requiredText(json, "type", file, "pre_tokenizer");
        switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode step : HuggingFaceJson.requiredArray(json, "pretokenizers", file, "pre_tokenizer")) {
                    PreTokenizer built = fromJson(step, file);
                    if (built != null) {
                        steps.add(built);
                    }
                }
                return (piece, out) -> {
                    List<Piece> pieces = List.of(piece);
                    for (PreTokenizer step : steps) {
                        List<Piece> next = new ArrayList<>();
                        for (Piece p : pieces) {
                            step.split(p, next);
                        }
                        pieces = next;
                    }
                    out.addAll(pieces);
                };
            }
            case "Split" -> {
                if (HuggingFaceJson.flag(json, "invert", false)) {
                    throw new TokenizerFileException(file, "pre_tokenizer Split with invert=true is not supported");
                }
                Pattern pattern = HuggingFaceJson.pattern(json.get("pattern"), file, "pre_tokenizer Split");
                Behavior behavior = behavior(HuggingFaceJson.requiredText(json, "behavior", file,
                        "pre_tokenizer Split"), file);
                return (piece, out) -> splitOnPattern(piece, pattern, behavior, out);
            }
            case "ByteLevel" -> {
                boolean addPrefixSpace = HuggingFaceJson.flag(json, "add_prefix_space", true);
                Pattern regex = HuggingFaceJson.flag(json, "use_regex", true)
                        ? Pattern.compile(GPT2_REGEX, Pattern.UNICODE_CHARACTER_CLASS) : null;
                return (piece, out) -> {
                    String text = piece.text();
                    if (addPrefixSpace && !text.startsWith(" ")) {
                        text = " " + text;
                    }
                    List<Piece> words = new ArrayList<>();
                    if (regex == null) {
                        words.add(new Piece(text, piece.atInputStart()));
                    } else {
                        splitOnPattern(new Piece(text, piece.atInputStart()), regex, Behavior.ISOLATED, words);
                    }
                    for (Piece word : words) {
                        out.add(new Piece(ByteLevelAlphabet.encode(word.text()), word.atInputStart()));
                    }
                };
            }
            case "Metaspace" -> {
                String replacement = HuggingFaceJson.requiredText(json, "replacement", file, "pre_tokenizer Metaspace");
                String scheme = json.hasNonNull("prepend_scheme") ? json.get("prepend_scheme").asText()
                        : HuggingFaceJson.flag(json, "add_prefix_space", true) ? "always" : "never";
                if (!scheme.equals("always") && !scheme.equals("first") && !scheme.equals("never")) {
                    throw new TokenizerFileException(file, "pre_tokenizer Metaspace prepend_scheme '" + scheme
                            + "' is not one of always, first, never");
                }
                boolean split = HuggingFaceJson.flag(json, "split", true);
                Pattern separator = Pattern.compile(Pattern.quote(replacement));
                return (piece, out) -> {
                    String text = piece.text().replace(" ", replacement);
                    boolean prepend = scheme.equals("always") || (scheme.equals("first") && piece.atInputStart());
                    if (prepend && !text.startsWith(replacement)) {
                        text = replacement + text;
                    }
                    Piece replaced = new Piece(text, piece.atInputStart());
                    if (split) {
                        splitOnPattern(replaced, separator, Behavior.MERGED_WITH_NEXT, out);
                    } else if (!text.isEmpty()) {
                        out.add(replaced);
                    }
                };
            }
            case "Digits" -> {
                Pattern digit = Pattern.compile("[\\p{Nd}\\p{Nl}\\p{No}]");
                Behavior behavior = HuggingFaceJson.flag(json, "individual_digits", false)
                        ? Behavior.ISOLATED : Behavior.CONTIGUOUS;
                return (piece, out) -> splitOnPattern(piece, digit, behavior, out);
            }
            default -> throw new TokenizerFileException(file, "pre_tokenizer type '" + type
                    + "' is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits)");
        }
    }

    private static Behavior behavior(String name, Path file) throws TokenizerFileException {
        return switch (name) {
            case "Removed" -> Behavior.REMOVED;
            case "Isolated" -> Behavior.ISOLATED;
            case "MergedWithPrevious" -> Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> Behavior.CONTIGUOUS;
            default -> throw new TokenizerFileException(file, "pre_tokenizer Split behavior '" + name
                    + "' is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
        };
    }

    /**
     * Cuts a piece at the matches of a pattern and joins matches and gaps as HF's
     * {@code NormalizedString::split} does for the behavior.
     */
    static void splitOnPattern(Piece piece, Pattern pattern, Behavior behavior, List<Piece> out) {
        String text = piece.text();
        // Spans of text as [start, end, isMatch] triples, in order, covering the text.
        List<int[]> spans = new ArrayList<>();
        Matcher matcher = pattern.matcher(text);
        int previousEnd = 0;
        while (matcher.find()) {
            if (matcher.end() == matcher.start()) {
                continue;
            }
            if (matcher.start() > previousEnd) {
                spans.add(new int[] {previousEnd, matcher.start(), 0});
            }
            spans.add(new int[] {matcher.start(), matcher.end(), 1});
            previousEnd = matcher.end();
        }
        if (previousEnd < text.length()) {
            spans.add(new int[] {previousEnd, text.length(), 0});
        }
        List<int[]> joined = new ArrayList<>();
        if (behavior == Behavior.MERGED_WITH_NEXT) {
            // HF folds from the end: a match joins the span after it unless that span is a match too.
            boolean nextIsMatch = false;
            for (int s = spans.size() - 1; s >= 0; s--) {
                int[] span = spans.get(s);
                boolean isMatch = span[2] == 1;
                if (isMatch && !nextIsMatch && !joined.isEmpty()) {
                    joined.get(joined.size() - 1)[0] = span[0];
                } else {
                    joined.add(span);
                }
                nextIsMatch = isMatch;
            }
            java.util.Collections.reverse(joined);
        } else {
            boolean previousMatch = false;
            for (int[] span : spans) {
                boolean isMatch = span[2] == 1;
                int[] last = joined.isEmpty() ? null : joined.get(joined.size() - 1);
                switch (behavior) {
                    case REMOVED -> {
                        if (!isMatch) {
                            joined.add(span);
                        }
                    }
                    case MERGED_WITH_PREVIOUS -> {
                        if (isMatch && !previousMatch && last != null) {
                            last[1] = span[1];
                        } else {
                            joined.add(span);
                        }
                    }
                    case CONTIGUOUS -> {
                        if (isMatch == previousMatch && last != null) {
                            last[1] = span[1];
                        } else {
                            joined.add(span);
                        }
                    }
                    default -> joined.add(span); // ISOLATED
                }
                previousMatch = isMatch;
            }
        }
        for (int[] span : joined) {
            out.add(new Piece(text.substring(span[0], span[1]), piece.atInputStart() && span[0] == 0));
        }
    }
}
