package dev.retort.distill.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.distill.qa.ContextIndex;
import dev.retort.distill.qa.Contexts;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The document world is what the QA experiment needs: answerable, unambiguous gold questions, and hard retrieval. */
class DocumentWorldTest {
    @TempDir
    Path tmp;

    @Test
    void everyGoldQuestionIsAnsweredByItsDocumentAndOnlyThere() {
        DocumentWorld world = new DocumentWorld(1, 300);
        Map<String, String> text = new HashMap<>();
        for (Contexts.Document d : world.documents()) text.put(d.id(), d.text());
        assertEquals(300, text.size());
        List<DocumentWorld.Question> gold = world.goldQuestions(2, 200);
        Set<String> subjects = new HashSet<>();
        for (DocumentWorld.Question q : gold) {
            String doc = text.get(q.document());
            assertTrue(doc.contains(" " + q.answer() + ".") || doc.contains(" " + q.answer() + " "), q + " / " + doc);
            assertTrue(subjects.add(q.document()), "one question per person");
            String subject = doc.substring(0, doc.indexOf(" is a "));
            assertTrue(q.question().contains(subject), "the question names its subject: " + q);
        }
        // the subject's name with the job or town the question uses picks out one document's subject
        for (DocumentWorld.Question q : gold) {
            long matches = text.values().stream().filter(d -> subjectMatches(d, q.question())).count();
            assertEquals(1, matches, q.question());
        }
        assertEquals(world.documents(), new DocumentWorld(1, 300).documents(), "a world is a function of its seed");
    }

    @Test
    void aLongContextHoldsTheAnsweringPassageAmongDistinctDistractorsInRandomPlaces() {
        DocumentWorld world = new DocumentWorld(1, 100);
        Set<String> texts = new HashSet<>();
        for (Contexts.Document d : world.documents()) texts.add(d.text());
        List<DocumentWorld.LongQuestion> gold = world.longContextQuestions(2, 100, 5, true);
        Set<String> subjects = new HashSet<>();
        int[] goldPlace = new int[5];
        for (DocumentWorld.LongQuestion q : gold) {
            List<String> passages = List.of(q.context().split("\n"));
            assertEquals(5, passages.size(), q.context());
            assertEquals(5, new HashSet<>(passages).size(), "distinct passages: " + q.context());
            assertTrue(texts.containsAll(passages), "every passage is a document of the world");
            List<String> answering = passages.stream().filter(p -> subjectMatches(p, q.question())).toList();
            assertEquals(1, answering.size(), q.question() + " / " + q.context());
            assertTrue(answering.getFirst().contains(" " + q.answer()), q + " / " + answering);
            assertTrue(subjects.add(answering.getFirst()), "distinct questions are about distinct people");
            goldPlace[passages.indexOf(answering.getFirst())]++;
        }
        for (int place : goldPlace) assertTrue(place >= 8, "the answering passage is anywhere in the context: " + java.util.Arrays.toString(goldPlace));
        assertEquals(gold, world.longContextQuestions(2, 100, 5, true), "a function of the seed");
        assertEquals(300, world.longContextQuestions(3, 300, 2, false).size(), "drawn with replacement for training");
    }

    private static boolean subjectMatches(String doc, String question) {
        String subject = doc.substring(0, doc.indexOf(" is a "));
        String job = doc.substring(doc.indexOf(" is a ") + 6, doc.indexOf(" in "));
        String town = doc.substring(doc.indexOf(" in ") + 4, doc.indexOf(". "));
        return question.contains(" " + job + " " + subject + " ") || question.contains(" " + subject + " from " + town + " ") || question.endsWith(" " + subject + " from " + town + "?");
    }

    @Test
    void bm25sTopHitIsOftenANearMissButTheGoldIsUsuallyAmongTheFirstFive() throws Exception {
        DocumentWorld world = new DocumentWorld(1, 300);
        List<Contexts.Context> contexts = world.documents().stream().flatMap(d -> Contexts.split(d, 128).stream()).toList();
        ContextIndex.build(contexts, tmp, 128, tmp.resolve("index"));
        int top1 = 0, top5 = 0;
        List<DocumentWorld.Question> gold = world.goldQuestions(2, 200);
        try (ContextIndex index = ContextIndex.open(tmp.resolve("index"))) {
            for (DocumentWorld.Question q : gold) {
                List<ContextIndex.Hit> hits = index.search(q.question(), 5);
                if (hits.getFirst().context().document().equals(q.document())) top1++;
                if (hits.stream().anyMatch(h -> h.context().document().equals(q.document()))) top5++;
            }
        }
        // measured: 90 and 195 of 200
        assertTrue(top1 < 0.6 * gold.size(), "BM25's top hit should often miss: " + top1);
        assertTrue(top5 > 0.9 * gold.size(), "the gold should be among BM25's first five: " + top5);
    }
}
