package dev.retort.models.hf;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Collectors;

/** The "did you mean" part of a missing-tensor error: the known names closest to the one asked for. */
final class NameSuggestions {
    private static final int MAX_SUGGESTIONS = 5;

    private NameSuggestions() {}

    /** A message fragment naming up to five close names, or a few example names when none is close. */
    static String describe(String wanted, Collection<String> known) {
        if (known.isEmpty()) return "the file has no tensors";
        // Tensor names differ from each other mostly in a layer number or a projection name; a third of the
        // name's length in edits separates "a typo or wrong layer" from "something else entirely".
        int limit = Math.max(3, wanted.length() / 3);
        record Scored(String name, int distance) {}
        List<Scored> close = new ArrayList<>();
        for (String name : known) {
            int d = editDistance(wanted, name, limit);
            if (d <= limit) close.add(new Scored(name, d));
        }
        close.sort(Comparator.comparingInt(Scored::distance).thenComparing(Scored::name));
        if (!close.isEmpty()) {
            return "close names: " + close.stream().limit(MAX_SUGGESTIONS)
                    .map(s -> JsonFields.quote(s.name())).collect(Collectors.joining(", "));
        }
        return known.size() + " tensors, e.g. " + known.stream().limit(3)
                .map(JsonFields::quote).collect(Collectors.joining(", "));
    }

    /** Levenshtein distance, giving up (returning limit + 1) once it must exceed {@code limit}. */
    static int editDistance(String a, String b, int limit) {
        if (Math.abs(a.length() - b.length()) > limit) return limit + 1;
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) previous[j] = j;
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            int rowMin = current[0];
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
                rowMin = Math.min(rowMin, current[j]);
            }
            if (rowMin > limit) return limit + 1;
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }
}
