package dev.retort.distill.qa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.retort.distill.qa.TripletFilters.Verdict;
import org.junit.jupiter.api.Test;

/** What the synthesis filters keep and reject, as a table of cases, and in which order they run. */
class TripletFiltersTest {
    private static final String CONTEXT = "anna berg is a baker in oslo. she has a cat and likes chess.";

    private record Case(String generated, boolean truncated, Verdict expected) {}

    @Test
    void eachCaseGetsItsVerdict() {
        Case[] cases = {
                new Case(" where does the baker anna berg live?\nanswer: oslo", false, Verdict.KEPT),
                new Case("question: what pet does anna berg have?\nanswer: a cat.\n", false, Verdict.KEPT),
                new Case(" where does the baker anna berg live?\nanswer: osl", true, Verdict.TRUNCATED),
                new Case(" where does the baker anna berg live? oslo", false, Verdict.MALFORMED),          // no answer line
                new Case("\nanswer: oslo", false, Verdict.MALFORMED),                                      // no question
                new Case(" where does anna berg live\nanswer: oslo", false, Verdict.MALFORMED),           // no question mark
                new Case(" where does\nanna live?\nanswer: oslo", false, Verdict.MALFORMED),              // question over two lines
                new Case(" what does anna berg like?\nanswer: the", false, Verdict.EMPTY_ANSWER),         // only an article
                new Case(" what does anna berg like?\nanswer:", false, Verdict.EMPTY_ANSWER),
                new Case(" where does anna berg live?\nanswer: bergen", false, Verdict.UNSUPPORTED),     // not in the context
                new Case(" what does anna berg like?\nanswer: skiing and fishing", false, Verdict.UNSUPPORTED), // 1/3 ("and") < 0.5
                new Case(" what does anna berg like?\nanswer: chess and cat", false, Verdict.KEPT),      // every word in the context
        };
        TripletFilters filters = new TripletFilters(0.5);
        for (Case c : cases) assertEquals(c.expected(), filters.judge(CONTEXT, c.generated(), c.truncated()).verdict(), c.generated());
    }

    @Test
    void aKeptQuestionIsADuplicateForAnyContextAfterNormalisation() {
        TripletFilters filters = new TripletFilters(0);
        assertEquals(Verdict.KEPT, filters.judge(CONTEXT, " Where does the baker Anna Berg live?\nanswer: oslo", false).verdict());
        assertEquals(Verdict.DUPLICATE_QUESTION, filters.judge("another context", "where does the baker anna berg live ?\nanswer: x", false).verdict());
        TripletFilters resumed = new TripletFilters(0);
        resumed.alreadyKept("where does the baker anna berg live?");
        assertEquals(Verdict.DUPLICATE_QUESTION, resumed.judge(CONTEXT, " where does the baker anna berg live?\nanswer: oslo", false).verdict());
        // a rejected question is not remembered: the same question well answered later is kept
        TripletFilters f = new TripletFilters(0.5);
        assertEquals(Verdict.UNSUPPORTED, f.judge(CONTEXT, " where does anna berg live?\nanswer: bergen", false).verdict());
        assertEquals(Verdict.KEPT, f.judge(CONTEXT, " where does anna berg live?\nanswer: oslo", false).verdict());
    }

    @Test
    void supportIsTheFractionOfAnswerWordsInTheContext() {
        assertEquals(1.0, TripletFilters.support("a cat", CONTEXT));
        assertEquals(0.5, TripletFilters.support("cat dog", CONTEXT));
        assertEquals(0.0, TripletFilters.support("the", CONTEXT), "nothing left to support");
        // minimum support 0 keeps even an answer made up entirely
        assertEquals(Verdict.KEPT, new TripletFilters(0).judge(CONTEXT, " q?\nanswer: bergen", false).verdict());
        assertThrows(IllegalArgumentException.class, () -> new TripletFilters(1.5));
    }

    @Test
    void parseSplitsQuestionAndAnswer() {
        QaFormat.Written w = QaFormat.parse(" what pet does anna have?\nAnswer : a cat\nquestion: more").orElseThrow();
        assertEquals("what pet does anna have?", w.question());
        assertEquals("a cat", w.answer(), "the answer is its line only");
        assertEquals("passage: ctx\nquestion: q?\nanswer: a", QaFormat.answered(" ctx ", "q?", "a"));
    }
}
