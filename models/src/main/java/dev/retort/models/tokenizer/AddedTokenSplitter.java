package dev.retort.models.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Cuts text at occurrences of added tokens, as Hugging Face's {@code AddedVocabulary} does: scanning left to
 * right, the earliest occurrence wins and among those the longest, then the token's single_word, lstrip and
 * rstrip flags are applied. A trie over the token texts keeps the scan linear in practice.
 */
final class AddedTokenSplitter {

    /** A piece of the input: plain text for the model ({@code tokenId} -1) or one added token. */
    record Segment(String text, int tokenId) {
        boolean isToken() {
            return tokenId >= 0;
        }
    }

    private static final Pattern WORD_CHARACTER = Pattern.compile("\\w", Pattern.UNICODE_CHARACTER_CLASS);

    private final TrieNode root = new TrieNode();
    private final boolean empty;

    /**
     * @param tokens the tokens to find
     * @param patterns the text to find for each token (its content, normalized for normalized tokens)
     */
    AddedTokenSplitter(List<AddedToken> tokens, List<String> patterns) {
        for (int t = 0; t < tokens.size(); t++) {
            String pattern = patterns.get(t);
            if (pattern.isEmpty()) {
                continue;
            }
            TrieNode node = root;
            for (int i = 0; i < pattern.length(); i++) {
                node = node.children.computeIfAbsent(pattern.charAt(i), c -> new TrieNode());
            }
            if (node.token == null) {
                node.token = tokens.get(t);
            }
        }
        empty = root.children.isEmpty();
    }

    /** Splits text into plain pieces and added tokens; with {@code skipSpecial} special tokens stay text. */
    List<Segment> split(String text, boolean skipSpecial) {
        List<Segment> segments = new ArrayList<>();
        if (empty) {
            if (!text.isEmpty()) {
                segments.add(new Segment(text, -1));
            }
            return segments;
        }
        int plainStart = 0;
        int i = 0;
        while (i < text.length()) {
            TrieNode node = root;
            AddedToken found = null;
            int foundEnd = -1;
            for (int j = i; j < text.length(); j++) {
                node = node.children.get(text.charAt(j));
                if (node == null) {
                    break;
                }
                if (node.token != null) {
                    found = node.token;
                    foundEnd = j + 1;
                }
            }
            if (found == null) {
                i++;
                continue;
            }
            int start = i;
            int stop = foundEnd;
            i = foundEnd; // the scan resumes after the match itself, whatever lstrip/rstrip take
            if (skipSpecial && found.special()) {
                continue;
            }
            if (found.singleWord() && (endsWithWordCharacter(text, start) || startsWithWordCharacter(text, stop))) {
                continue;
            }
            if (found.lstrip()) {
                int newStart = start;
                while (newStart > 0 && Utf8.isWhiteSpace(text.codePointBefore(newStart))) {
                    newStart -= Character.charCount(text.codePointBefore(newStart));
                }
                start = Math.max(newStart, plainStart);
            }
            if (found.rstrip()) {
                while (stop < text.length() && Utf8.isWhiteSpace(text.codePointAt(stop))) {
                    stop += Character.charCount(text.codePointAt(stop));
                }
            }
            if (plainStart < start) {
                segments.add(new Segment(text.substring(plainStart, start), -1));
            }
            segments.add(new Segment(text.substring(start, stop), found.id()));
            plainStart = stop;
        }
        if (plainStart < text.length()) {
            segments.add(new Segment(text.substring(plainStart), -1));
        }
        return segments;
    }

    private static boolean endsWithWordCharacter(String text, int end) {
        return end > 0 && isWordCharacter(text.codePointBefore(end));
    }

    private static boolean startsWithWordCharacter(String text, int start) {
        return start < text.length() && isWordCharacter(text.codePointAt(start));
    }

    private static boolean isWordCharacter(int cp) {
        return WORD_CHARACTER.matcher(Character.toString(cp)).matches();
    }

    private static final class TrieNode {
        final Map<Character, TrieNode> children = new HashMap<>(4);
        AddedToken token;
    }
}
