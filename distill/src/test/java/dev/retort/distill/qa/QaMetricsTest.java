package dev.retort.distill.qa;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Exact match and token F1 against values computed by hand (SQuAD's normalisation). */
class QaMetricsTest {
    @Test
    void normalisationDropsCasePunctuationAndArticles() {
        assertEquals(List.of("red", "ball"), QaMetrics.words("The  Red ball."));
        assertEquals(List.of("oslo"), QaMetrics.words("an Oslo!"));
        assertEquals(List.of(), QaMetrics.words(" the , a "));
        assertEquals(List.of("theatre"), QaMetrics.words("theatre"), "an article inside a word stays");
    }

    @Test
    void exactMatchComparesNormalisedAnswers() {
        assertEquals(1.0, QaMetrics.exactMatch("The Oslo.", "oslo"));
        assertEquals(0.0, QaMetrics.exactMatch("oslo bergen", "oslo"));
        assertEquals(1.0, QaMetrics.exactMatch("", "the"), "both empty after normalisation");
    }

    @Test
    void f1CountsCommonWordsAsAMultiset() {
        // prediction "red red ball" vs gold "a red ball": common = {red, ball} = 2; P = 2/3, R = 2/2; F1 = 2·(2/3)·1/(5/3) = 0.8
        assertEquals(0.8, QaMetrics.f1("red red ball", "a red ball"), 1e-12);
        // "big dog" vs "dog": P = 1/2, R = 1 → 2/3
        assertEquals(2.0 / 3, QaMetrics.f1("big dog", "dog"), 1e-12);
        // "cat" vs "dog": 0; empty vs empty: 1; empty vs something: 0
        assertEquals(0.0, QaMetrics.f1("cat", "dog"));
        assertEquals(1.0, QaMetrics.f1("the", "a"));
        assertEquals(0.0, QaMetrics.f1("", "dog"));
        // gold "dog dog" vs "dog": P = 1, R = 1/2 → 2/3 (a repeated gold word must be matched twice)
        assertEquals(2.0 / 3, QaMetrics.f1("dog", "dog dog"), 1e-12);
    }
}
