package dev.retort.distill.qa;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Answer metrics as the SQuAD evaluation script defines them: answers are compared after normalisation (lower
 * case, punctuation removed, the articles a/an/the removed, whitespace collapsed); exact match is 1 when the
 * normalised strings are equal, token F1 is the harmonic mean of precision and recall of the normalised words
 * counted as a multiset (two empty answers: F1 = 1; one empty: 0).
 */
public final class QaMetrics {
    private static final Pattern PUNCTUATION = Pattern.compile("\\p{Punct}|[\\p{Pd}\\p{Ps}\\p{Pe}\\p{Pi}\\p{Pf}\\p{Po}]");
    private static final Pattern ARTICLES = Pattern.compile("\\b(a|an|the)\\b");

    private QaMetrics() {}

    /** The normalised words of {@code text}. */
    public static List<String> words(String text) {
        String s = text.toLowerCase(Locale.ROOT);
        s = PUNCTUATION.matcher(s).replaceAll("");
        s = ARTICLES.matcher(s).replaceAll(" ");
        List<String> out = new ArrayList<>();
        for (String w : s.strip().split("\\s+")) if (!w.isEmpty()) out.add(w);
        return out;
    }

    /** 1 when the normalised answers are equal, else 0. */
    public static double exactMatch(String prediction, String gold) {
        return words(prediction).equals(words(gold)) ? 1 : 0;
    }

    /** Token F1 of the normalised answers. */
    public static double f1(String prediction, String gold) {
        List<String> p = words(prediction), g = words(gold);
        if (p.isEmpty() || g.isEmpty()) return p.isEmpty() && g.isEmpty() ? 1 : 0;
        Map<String, Integer> goldCounts = new HashMap<>();
        for (String w : g) goldCounts.merge(w, 1, Integer::sum);
        int common = 0;
        for (String w : p) {
            Integer left = goldCounts.get(w);
            if (left != null && left > 0) {
                common++;
                goldCounts.put(w, left - 1);
            }
        }
        if (common == 0) return 0;
        double precision = (double) common / p.size(), recall = (double) common / g.size();
        return 2 * precision * recall / (precision + recall);
    }
}
