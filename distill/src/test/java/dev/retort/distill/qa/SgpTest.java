package dev.retort.distill.qa;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.models.Llm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Selective Generative Paradigm on a hand-made example with a real model (stories260K, a tiny Llama trained on
 * children's stories): BM25 ranks first a context that repeats the question's words but is about something else;
 * the model finds the question more likely after the context that answers it, and SGP chooses that one.
 */
class SgpTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final List<Contexts.Context> CONTEXTS = List.of(
            new Contexts.Context("right#0", "right", "Lily found a red ball in the garden. She was very happy and played with the ball all day."),
            new Contexts.Context("wrong#0", "wrong", "Tom had a big dog. The dog liked to run and jump. Tom gave the dog a bone and the dog was happy. "
                    + "Lily said where is the ball."),
            new Contexts.Context("far#0", "far", "The sun was hot. A bird sang in the tree. The bird was blue."));
    private static final String QUESTION = "Where did Lily find the ball?";

    @TempDir
    static Path tmp;
    private static Llm model;
    private static ContextIndex index;

    @BeforeAll
    static void open() throws Exception {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + " (a user's clone has no ../shared): skipped");
        ContextIndex.build(CONTEXTS, tmp, 100, tmp.resolve("index"));
        index = ContextIndex.open(tmp.resolve("index"));
        model = Llm.open(STORIES);
    }

    @AfterAll
    static void close() throws Exception {
        if (model != null) model.close();
        if (index != null) index.close();
    }

    @Test
    void meanLogProbIsMinusTheModelsOwnCrossEntropy() {
        int[] tokens = model.tokenizer().encode("Lily found a red ball in the garden. She was happy.");
        double mean = Sgp.meanLogProb(model, new int[] {tokens[0]}, Arrays.copyOfRange(tokens, 1, tokens.length));
        assertEquals(-model.loss(tokens), mean, 1e-5 * Math.abs(mean));
    }

    @Test
    void bm25RanksTheNearMissFirstAndTheStudentsJudgementFixesIt() {
        List<ContextIndex.Hit> bm25 = index.search(QUESTION, 3);
        assertEquals("wrong#0", bm25.getFirst().context().id(), "the example is only a test if BM25 gets it wrong");

        Sgp.Answer sgp = Sgp.answer(model, index, QUESTION, new Sgp.Options(3, 0.3, 1.0, 8));
        Sgp.Candidate right = find(sgp, "right#0"), wrong = find(sgp, "wrong#0");
        assertTrue(right.questionScore() > wrong.questionScore() + 0.1,
                "the question is more likely after the context that answers it: " + right.questionScore() + " vs " + wrong.questionScore());
        assertEquals("right#0", sgp.chosen().hit().context().id());

        // the combination, computed by hand from each candidate's parts
        double maxBm25 = bm25.getFirst().score(), maxStudent = sgp.candidates().stream().mapToDouble(Sgp.Candidate::studentScore).max().orElseThrow();
        for (Sgp.Candidate c : sgp.candidates()) {
            assertEquals(c.questionScore() + 1.0 * c.answerScore(), c.studentScore(), 1e-12);
            assertEquals(0.3 * c.hit().score() / maxBm25 + 0.7 * Math.exp(c.studentScore() - maxStudent), c.combined(), 1e-12);
        }

        assertEquals("wrong#0", Sgp.answer(model, index, QUESTION, new Sgp.Options(3, 1.0, 1.0, 8)).chosen().hit().context().id(),
                "weight 1 is BM25's top hit");
        assertEquals("wrong#0", Sgp.answer(model, index, QUESTION, new Sgp.Options(1, 0.0, 1.0, 8)).chosen().hit().context().id(),
                "with one candidate there is nothing to choose");
    }

    /** SGP at w = 1 is BM25's top hit answered by the same model: the same contexts, answers and scores. */
    @Test
    void sgpAtWeightOneIsBm25TopOne() {
        List<QaEvaluation.Gold> gold = List.of(new QaEvaluation.Gold(QUESTION, "in the garden", "right", null),
                new QaEvaluation.Gold("What did Tom give the dog?", "a bone", "wrong", null),
                new QaEvaluation.Gold("What color was the bird?", "blue", null, "far#0"));
        QaEvaluation.Run top1 = QaEvaluation.bm25Top1("bm25", model, index, gold, 8);
        List<QaEvaluation.Run> sgp = QaEvaluation.sgpWeights("sgp", model, index, gold, new Sgp.Options(3, 0.5, 1.0, 8), List.of(1.0, 0.3));
        assertEquals("sgp w=1.0", sgp.get(0).scores().pipeline());
        assertEquals(top1.answers(), sgp.get(0).answers());
        assertEquals(0.0, top1.scores().retrieval() - 2.0 / 3, 1e-12, "BM25 misses the first question only");
        assertEquals(1.0, sgp.get(1).scores().retrieval(), "w = 0.3 gets all three");
    }

    @Test
    void goldContextAnswersFromTheGoldPassageAsBm25DoesWhereItsTopHitIsRight() {
        List<QaEvaluation.Gold> gold = List.of(new QaEvaluation.Gold(QUESTION, "in the garden", "right", null),
                new QaEvaluation.Gold("What did Tom give the dog?", "a bone", "wrong", null),
                new QaEvaluation.Gold("What color was the bird?", "blue", null, "far#0"),
                new QaEvaluation.Gold("Who is nowhere?", "no one", "missing", null));
        QaEvaluation.Run top1 = QaEvaluation.bm25Top1("bm25", model, index, gold, 8);
        QaEvaluation.Run inGold = QaEvaluation.goldContext("gold", model, CONTEXTS, gold, 8);
        assertEquals(List.of("right#0", "wrong#0", "far#0"), inGold.answers().stream().limit(3).map(QaEvaluation.Answered::contextId).toList());
        assertEquals(0.75, inGold.scores().retrieval(), 1e-12, "every passage found but the missing one's");
        assertEquals(top1.answers().get(1), inGold.answers().get(1), "BM25's top hit is the gold passage here: the same answer");
        assertEquals(top1.answers().get(2), inGold.answers().get(2));
        assertEquals(new QaEvaluation.Answered(gold.get(3), null, "", 0, 0, false), inGold.answers().get(3));
    }

    private static Sgp.Candidate find(Sgp.Answer a, String id) {
        return a.candidates().stream().filter(c -> c.hit().context().id().equals(id)).findFirst().orElseThrow();
    }
}
