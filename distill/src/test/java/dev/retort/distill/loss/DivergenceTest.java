package dev.retort.distill.loss;

import static dev.retort.distill.loss.KdReference.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.ops.CrossEntropy;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each divergence's value and logit gradient against its definition in double precision ({@link KdReference})
 * and central finite differences of that definition, over temperatures and with and without top-k truncation.
 */
class DivergenceTest {
    private static final int ROWS = 5, VOCAB = 11;
    private static final int[] TARGETS = {3, CrossEntropy.IGNORE_INDEX, 0, 10, 7};

    static Stream<Arguments> divergencesTemperaturesAndTopK() {
        List<Arguments> cases = new ArrayList<>();
        for (Divergence d : Divergence.values()) {
            for (double t : new double[] {1, 2.5}) {
                for (int k : new int[] {0, 4}) cases.add(Arguments.of(d, t, k));
            }
        }
        return cases.stream();
    }

    static double betaFor(Divergence d) {
        return switch (d) {
            case JSD, GJSD -> 0.3;
            case SKL, SRKL -> 0.2;
            default -> 0;
        };
    }

    /**
     * GKD's loss at and near the ends of β: exactly forward KL at β = 0 and reverse KL at β = 1 (value and
     * gradient, to float rounding), and no jump: at β = 1e-4 and 1 − 1e-4 it is within 1e-3 of them.
     */
    @Test
    void generalisedJsdRunsContinuouslyFromForwardToReverseKl() {
        SplittableRandom random = new SplittableRandom(5);
        double[] z = KdReference.random(random, ROWS * VOCAB, 3);
        double[] y = KdReference.random(random, ROWS * VOCAB, 3);
        for (double[] end : new double[][] {{0, 1e-4, Divergence.FKL.ordinal()}, {1, 1 - 1e-4, Divergence.RKL.ordinal()}}) {
            Divergence kl = Divergence.values()[(int) end[2]];
            Runs.Outcome expected = Runs.fromLogits(z, y, ROWS, VOCAB, TARGETS, new KdConfig(kl, 1.5, 1, 0, 0), 0, 0);
            Runs.Outcome at = Runs.fromLogits(z, y, ROWS, VOCAB, TARGETS, new KdConfig(Divergence.GJSD, 1.5, 1, end[0], 0), 0, 0);
            Runs.Outcome near = Runs.fromLogits(z, y, ROWS, VOCAB, TARGETS, new KdConfig(Divergence.GJSD, 1.5, 1, end[1], 0), 0, 0);
            // (FKL and RKL take the SIMD row kernels in float, GJSD the scalar twin in double: equal to float rounding)
            assertClose("gjsd at beta " + end[0] + " vs " + kl, expected.loss(), at.loss(), 1e-6);
            assertClose("gjsd gradient at beta " + end[0] + " vs " + kl, expected.gradA(), at.gradA(), 1e-6);
            assertClose("gjsd at beta " + end[1] + " vs " + kl, expected.loss(), near.loss(), 1e-3);
            assertClose("gjsd gradient at beta " + end[1] + " vs " + kl, expected.gradA(), near.gradA(), 1e-3);
        }
    }

    @ParameterizedTest(name = "{0} T={1} topK={2}")
    @MethodSource("divergencesTemperaturesAndTopK")
    void divergenceValueAndGradientMatchTheDefinition(Divergence d, double t, int k) {
        SplittableRandom random = new SplittableRandom(17 + d.ordinal() * 31 + k);
        double[] z = KdReference.random(random, ROWS * VOCAB, 3);
        double[] y = KdReference.random(random, ROWS * VOCAB, 3);
        KdConfig config = new KdConfig(d, t, 1, betaFor(d), k);

        Runs.Outcome out = Runs.fromLogits(z, y, ROWS, VOCAB, TARGETS, config, 0, 0);
        double[] sums = KdReference.sums(z, y, TARGETS, VOCAB, config);
        assertClose(d + " Σ D", sums[1], out.kdSum(), 1e-6);
        assertClose(d + " loss = T²·Σ D / counted", t * t * sums[1] / 4, out.loss(), 2e-6);
        double[] numeric = KdReference.numericGradient(x -> KdReference.loss(x, y, TARGETS, VOCAB, config, 0), z);
        assertClose(d + " dLoss/dz vs finite differences", numeric, out.gradA(), 1e-4);
    }

    @ParameterizedTest
    @EnumSource(Divergence.class)
    void bucketGradientIsQTimesTheTermsDerivative(Divergence d) {
        double beta = betaFor(d) == 0 ? 0.3 : betaFor(d);   // FKL, RKL, TVD ignore it
        double[][] points = {{0.3, 0.6}, {0.05, 0.01}, {0.7, 0.2}, {1e-4, 0.4}};
        for (double[] pq : points) {
            double p = pq[0], q = pq[1], eps = 1e-6 * q;
            double numeric = q * (d.term(Math.log(p), Math.log(q + eps), beta) - d.term(Math.log(p), Math.log(q - eps), beta)) / (2 * eps);
            double analytic = d.termGradient(Math.log(p), Math.log(q), beta);
            assertClose(d + " h = q·∂f/∂q at p=" + p + " q=" + q, numeric, analytic, 1e-6);
        }
    }

    @Test
    void termsMatchTheDefinitionsAtAPoint() {
        double p = 0.3, q = 0.6;
        assertClose("FKL", p * Math.log(p / q), Divergence.FKL.term(Math.log(p), Math.log(q), 0), 1e-12);
        assertClose("RKL", q * Math.log(q / p), Divergence.RKL.term(Math.log(p), Math.log(q), 0), 1e-12);
        double m = 0.25 * p + 0.75 * q;
        assertClose("JSD", 0.25 * p * Math.log(p / m) + 0.75 * q * Math.log(q / m),
                Divergence.JSD.term(Math.log(p), Math.log(q), 0.25), 1e-12);
        assertClose("SKL", p * Math.log(p / (0.1 * p + 0.9 * q)), Divergence.SKL.term(Math.log(p), Math.log(q), 0.1), 1e-12);
        assertClose("SRKL", q * Math.log(q / (0.1 * q + 0.9 * p)), Divergence.SRKL.term(Math.log(p), Math.log(q), 0.1), 1e-12);
        assertClose("TVD", 0.15, Divergence.TVD.term(Math.log(p), Math.log(q), 0), 1e-12);
        assertEquals(0.0, Divergence.FKL.term(Double.NEGATIVE_INFINITY, Math.log(q), 0), "an empty teacher bucket adds nothing to FKL");
    }

    @Test
    void skewDivergencesWithZeroSkewAreTheKlDivergences() {
        SplittableRandom random = new SplittableRandom(5);
        double[] z = KdReference.random(random, ROWS * VOCAB, 2);
        double[] y = KdReference.random(random, ROWS * VOCAB, 2);
        for (Divergence[] pair : new Divergence[][] {{Divergence.SKL, Divergence.FKL}, {Divergence.SRKL, Divergence.RKL}}) {
            Runs.Outcome skew = Runs.fromLogits(z, y, ROWS, VOCAB, TARGETS, new KdConfig(pair[0], 1.5, 1, 0, 0), 0, 0);
            Runs.Outcome kl = Runs.fromLogits(z, y, ROWS, VOCAB, TARGETS, new KdConfig(pair[1], 1.5, 1, 0, 0), 0, 0);
            assertClose(pair[0] + " at skew 0 vs " + pair[1], kl.loss(), skew.loss(), 1e-6);
            assertClose(pair[0] + " gradient at skew 0 vs " + pair[1], kl.gradA(), skew.gradA(), 1e-6);
        }
    }

    @Test
    void identicalDistributionsHaveZeroDivergenceAndGradient() {
        SplittableRandom random = new SplittableRandom(9);
        double[] z = KdReference.random(random, ROWS * VOCAB, 3);
        int[] allMasked = new int[ROWS];
        java.util.Arrays.fill(allMasked, 1);
        for (Divergence d : Divergence.values()) {
            Runs.Outcome out = Runs.fromLogits(z, z, ROWS, VOCAB, allMasked, new KdConfig(d, 2, 1, betaFor(d) == 0 ? 0.5 : betaFor(d), 0), 0, 0);
            assertTrue(Math.abs(out.kdSum()) < 1e-6, d + ": D(p‖p) should be 0, got " + out.kdSum());
            for (double gj : out.gradA()) assertTrue(Math.abs(gj) < 1e-6, d + ": gradient at q = p should be 0, got " + gj);
        }
    }

    @Test
    void cliNamesParseAndUnknownNamesAreRejected() {
        for (Divergence d : Divergence.values()) assertEquals(d, Divergence.parse(d.cliName()));
        assertEquals(Divergence.SRKL, Divergence.parse(" SRKL "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Divergence.parse("kl"));
        assertEquals("unknown divergence 'kl': expected one of fkl|rkl|jsd|gjsd|skl|srkl|tvd", e.getMessage());
    }

    @Test
    void configRejectsOutOfRangeValuesWithOneLineMessages() {
        assertThrows(IllegalArgumentException.class, () -> new KdConfig(Divergence.FKL, 0, 0.5, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new KdConfig(Divergence.FKL, 1, 1.5, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new KdConfig(Divergence.FKL, 1, 0.5, 0, -1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new KdConfig(Divergence.JSD, 1, 0.5, 1, 0));
        assertEquals("KD config: beta 1.0 is not valid for JSD (expected 0 < beta < 1)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KdConfig(Divergence.SKL, 1, 0.5, 1, 0));
        KdConfig defaults = KdConfig.defaults(Divergence.SKL);
        assertEquals(new KdConfig(Divergence.SKL, 1, 0.5, 0.1, 0), defaults);
        assertEquals(new KdConfig(Divergence.SKL, 2, 0.9, 0.2, 8), defaults.withTemperature(2).withAlpha(0.9).withBeta(0.2).withTopK(8));
    }
}
