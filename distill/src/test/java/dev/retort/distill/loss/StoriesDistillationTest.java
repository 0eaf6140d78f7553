package dev.retort.distill.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.autograd.ops.CrossEntropy;
import dev.retort.autograd.optim.AdamW;
import dev.retort.autograd.optim.ParamGroup;
import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelWeights;
import dev.retort.models.llama.LlamaModel;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The loss on a real trained Llama (stories260K, from the shared test assets) as teacher. */
class StoriesDistillationTest {
    private static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");
    private static final int BATCH = 2, SEQ = 24, PROMPT = 4;

    private int[] tokens, targets;

    @BeforeEach
    void batch() {
        Assumptions.assumeTrue(Files.isRegularFile(STORIES.resolve("model.safetensors")),
                "shared test assets not found at " + STORIES.toAbsolutePath().normalize() + "; skipping");
        SplittableRandom random = new SplittableRandom(3);
        tokens = new int[BATCH * SEQ];
        for (int i = 0; i < tokens.length; i++) tokens[i] = 3 + random.nextInt(509);
        targets = LlamaModel.shiftedTargets(tokens, BATCH, SEQ);
        for (int b = 0; b < BATCH; b++) {
            for (int t = 0; t < PROMPT; t++) targets[b * SEQ + t] = CrossEntropy.IGNORE_INDEX;  // a "prompt"
        }
    }

    @Test
    void aModelDistilledFromItselfHasZeroDivergenceFullAgreementAndPlainCrossEntropy() {
        LlamaConfig config = LlamaConfig.read(STORIES);
        try (ModelWeights weights = ModelWeights.open(STORIES); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel teacher = LlamaModel.load(config, weights, arena, false);
            LlamaModel student = LlamaModel.load(config, weights, arena, true);
            float plainCe;
            try (Graph g = Graph.withGrad(pool)) {
                plainCe = student.loss(g, tokens, targets, BATCH, SEQ, 0).item();
            }
            try (Graph tg = Graph.noGrad(pool); Graph g = Graph.withGrad(pool)) {
                TeacherSource source = DenseTeacher.of(teacher.hidden(tg, tokens, BATCH, SEQ, null), teacher.lmHead(), 0);
                Var hidden = student.hidden(g, tokens, BATCH, SEQ, null);
                KdConfig config0 = new KdConfig(Divergence.FKL, 2, 0, 0, 0);
                DistillationLoss.Result r = DistillationLoss.linear(hidden, student.lmHead(), source, targets, config0, 0, 16);
                int counted = BATCH * (SEQ - PROMPT - 1);
                assertEquals(counted, r.countedTokens(), "counted tokens");
                assertEquals(counted, r.top1Agreement(), "a model agrees with itself on every token");
                assertTrue(Math.abs(r.kdSum()) < 1e-6 * counted, "D(p‖p) summed over tokens should be 0, got " + r.kdSum());
                assertEquals(plainCe, r.loss().item(), 1e-5, "alpha 0 is the model's own cross-entropy");
            }
        }
    }

    @Test
    void aRandomStudentTrainedOnTheKdLossMovesTowardsTheTeacher() {
        LlamaConfig config = LlamaConfig.read(STORIES);
        KdConfig kd = new KdConfig(Divergence.FKL, 2, 1, 0, 32);
        try (ModelWeights weights = ModelWeights.open(STORIES); Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel teacher = LlamaModel.load(config, weights, arena, false);
            LlamaModel student = LlamaModel.random(config, arena, 7);
            AdamW optimizer = new AdamW(List.of(new ParamGroup(student.trainableParameters(), 1, 0)), 3e-3);
            double first = 0, last = 0;
            int firstAgree = 0, lastAgree = 0;
            for (int step = 0; step < 12; step++) {
                try (Graph tg = Graph.noGrad(pool); Graph g = Graph.withGrad(pool)) {
                    TeacherSource source = DenseTeacher.of(teacher.hidden(tg, tokens, BATCH, SEQ, null), teacher.lmHead(), 32);
                    DistillationLoss.Result r = DistillationLoss.linear(student.hidden(g, tokens, BATCH, SEQ, null),
                            student.lmHead(), source, targets, kd, 0, 16);
                    r.loss().backward();
                    if (step == 0) {
                        first = r.kdSum() / r.countedTokens();
                        firstAgree = r.top1Agreement();
                    }
                    last = r.kdSum() / r.countedTokens();
                    lastAgree = r.top1Agreement();
                }
                optimizer.step();
                optimizer.zeroGrad();
            }
            String progress = String.format(Locale.ROOT, "top-32 FKL per token %.4f -> %.4f, top-1 agreement %d -> %d",
                    first, last, firstAgree, lastAgree);
            assertTrue(last < 0.7 * first, "12 AdamW steps on the KD loss should cut the divergence by 30%: " + progress);
            assertTrue(lastAgree > firstAgree, "top-1 agreement should grow: " + progress);
        }
    }
}
