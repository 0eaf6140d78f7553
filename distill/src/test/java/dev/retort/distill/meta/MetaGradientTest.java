package dev.retort.distill.meta;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.BufferPool;
import dev.retort.autograd.Parameter;
import dev.retort.distill.data.Batch;
import dev.retort.distill.loss.Divergence;
import dev.retort.distill.loss.KdConfig;
import dev.retort.models.llama.LlamaModel;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The teacher's meta-gradient against the derivative it approximates: that of the quiz loss after the pilot step. */
class MetaGradientTest {

    /**
     * F32 tolerance: the reference differences two quiz losses (≈ 3.1, rounding ≈ 1e-7 each) over a step of
     * 4e-2, so it carries about 1e-5 of noise; the meta-gradient's own finite difference adds its O(ε²) and
     * rounding errors (see MetaGradient). Observed agreement is better than 0.5%; 2% is the bound.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lora", "full"})
    void metaGradientEqualsTheFiniteDifferenceOfTheQuizLossInTheTeachersParameters(String update) {
        SplittableRandom random = new SplittableRandom(11);
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel student = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            LlamaModel teacher = LlamaModel.random(MetaFixtures.config(24, 2), arena, 2);
            MetaTeacher meta = update.equals("full") ? MetaTeacher.full(teacher, 1e-3) : MetaTeacher.lora(teacher, 2, 4, 3, 1e-3);
            // B = 0 at initialisation makes A's gradient vanish; a trained LoRA has both non-zero
            for (Parameter p : meta.parameters()) if (p.name().contains("lora_B")) MetaFixtures.randomise(p, random, 0.3);
            KdConfig kd = new KdConfig(Divergence.FKL, 2, 0.7, 0, 0);
            Batch x = MetaFixtures.randomBatch(random, 2, 8), q = MetaFixtures.randomBatch(random, 2, 8);
            List<Parameter> theta = student.trainableParameters();
            double lambda = 2.0;

            float[] meta1 = MetaFixtures.concat(MetaGradient.compute(student, theta, teacher, meta.parameters(), kd, x, q, lambda, 1e-2, pool).gradient());

            // directional derivatives of the quiz loss along random directions d of φ, by central differences
            List<Parameter> phi = meta.parameters();
            for (int trial = 0; trial < 3; trial++) {
                List<float[]> d = new ArrayList<>();
                double dNorm2 = 0;
                for (Parameter p : phi) {
                    float[] di = new float[(int) p.value().size()];
                    for (int i = 0; i < di.length; i++) dNorm2 += (di[i] = (float) random.nextGaussian()) * (double) di[i];
                    d.add(di);
                }
                double h = 2e-2 / Math.sqrt(dNorm2);
                double plus = quizAt(student, theta, teacher, phi, d, h, kd, x, q, lambda);
                double minus = quizAt(student, theta, teacher, phi, d, -h, kd, x, q, lambda);
                double expected = (plus - minus) / (2 * h);
                float[] dAll = MetaFixtures.concat(d);
                double actual = 0;
                for (int i = 0; i < dAll.length; i++) actual += (double) meta1[i] * dAll[i];
                System.out.printf(Locale.ROOT, "%s trial %d: quiz-loss slope %.6g, meta-gradient·d %.6g%n", update, trial, expected, actual);
                assertEquals(expected, actual, 0.02 * Math.abs(expected) + 1e-5,
                        "directional derivative of the quiz loss along d (trial " + trial + ")");
            }
        }
    }

    /** The quiz loss after the pilot step with φ moved to φ + step·d (φ restored afterwards). */
    private static double quizAt(LlamaModel student, List<Parameter> theta, LlamaModel teacher, List<Parameter> phi,
                                 List<float[]> d, double step, KdConfig kd, Batch x, Batch q, double lambda) {
        List<float[]> saved = new ArrayList<>();
        for (Parameter p : phi) saved.add(p.value().toFloatArray());
        for (int i = 0; i < phi.size(); i++) {
            float[] w = saved.get(i).clone();
            for (int j = 0; j < w.length; j++) w[j] += (float) (step * d.get(i)[j]);
            MetaFixtures.write(phi.get(i), w);
        }
        try {
            return MetaFixtures.quizLossAfterPilot(student, theta, teacher, kd, x, q, lambda);
        } finally {
            for (int i = 0; i < phi.size(); i++) MetaFixtures.write(phi.get(i), saved.get(i));
        }
    }

    @Test
    void zeroPilotLearningRateGivesAZeroMetaGradientAndRestoresTheStudent() {
        SplittableRandom random = new SplittableRandom(5);
        try (Arena arena = Arena.ofShared(); BufferPool pool = new BufferPool()) {
            LlamaModel student = LlamaModel.random(MetaFixtures.config(16, 1), arena, 1);
            LlamaModel teacher = LlamaModel.random(MetaFixtures.config(24, 2), arena, 2);
            MetaTeacher meta = MetaTeacher.lora(teacher, 2, 4, 3, 1e-3);
            for (Parameter p : meta.parameters()) if (p.name().contains("lora_B")) MetaFixtures.randomise(p, random, 0.3);
            KdConfig kd = new KdConfig(Divergence.JSD, 1.5, 0.5, 0.5, 0);
            Batch x = MetaFixtures.randomBatch(random, 2, 8), q = MetaFixtures.randomBatch(random, 2, 8);
            List<Parameter> theta = student.trainableParameters();
            List<float[]> before = MetaGradient.values(theta);

            MetaGradient.Result zero = MetaGradient.compute(student, theta, teacher, meta.parameters(), kd, x, q, 0, 1e-2, pool);
            for (float v : MetaFixtures.concat(zero.gradient())) assertTrue(v == 0, "meta-gradient with λ = 0: expected 0, got " + v);
            assertTrue(zero.diagnostics().quizGradientNorm() > 0, "the quiz gradient itself is not zero");
            MetaGradient.Result some = MetaGradient.compute(student, theta, teacher, meta.parameters(), kd, x, q, 1, 1e-2, pool);
            double norm = 0;
            for (float v : MetaFixtures.concat(some.gradient())) norm += v * v;
            assertTrue(norm > 0, "with λ = 1 the meta-gradient is not zero");

            List<float[]> after = MetaGradient.values(theta);
            for (int i = 0; i < theta.size(); i++) {
                assertArrayEquals(before.get(i), after.get(i), theta.get(i).name() + " restored bit for bit");
                assertTrue(theta.get(i).grad() == null || isZero(theta.get(i).grad().toFloatArray()), theta.get(i).name() + " gradient left at zero");
            }
        }
    }

    private static boolean isZero(float[] v) {
        for (float x : v) if (x != 0) return false;
        return true;
    }
}
