package dev.retort.tensor.kernels;

import static dev.retort.tensor.kernels.ElementwiseTesting.assertBitwiseEqual;
import static dev.retort.tensor.kernels.ElementwiseTesting.random;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.kernels.ElementwiseTesting.Buf;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Embedding gather (F32, BF16, F16 tables) and scatter-add, on every implementation. */
class ElementwiseEmbeddingTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    /** A 16-bit table of the given raw bits at element offset 3 (so the row loads are not 64-byte aligned). */
    private static MemorySegment halfTable(short[] bits) {
        MemorySegment s = ElementwiseTesting.ARENA.allocate((long) (bits.length + 3) * 2, 64);
        MemorySegment.copy(bits, 0, s, I16, 6, bits.length);
        return s;
    }

    private static float widen(DType type, short bits) {
        return type == DType.BF16 ? Half.bf16ToFloat(bits) : Half.f16ToFloat(bits);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void halfTablesWidenExactlyForEveryBitPattern(Kernels k) {
        // All 65536 bit patterns as one row (the full-vector path), then rows of 37 (masked tails).
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) all[i] = (short) i;
        MemorySegment table = halfTable(all);
        for (DType type : new DType[] {DType.BF16, DType.F16}) {
            float[] expected = new float[all.length];
            for (int i = 0; i < all.length; i++) expected[i] = widen(type, all[i]);
            Buf out = Buf.zeros(all.length);
            k.elementwise().embeddingGather(1, new int[] {0}, 0, 1, all.length, table, 3, type, out.segment(), out.offset());
            assertBitwiseEqual(k + " " + type + " widening, one row of 65536", expected, out.read());
            out.assertGuardsIntact(k + " " + type + " gather");

            // Rows of 37 (masked tails at every width): a sample of rows, including those holding ±0, the
            // subnormals, ±infinity and the NaNs (the full row above already covered every pattern).
            int dim = 37, vocab = all.length / dim;
            int[] ids = new int[40];
            int[] special = {0, 0x0400 / dim, 0x7c00 / dim, 0x7f80 / dim, 0x8000 / dim, 0xfc00 / dim, vocab - 1};
            SplittableRandom rnd = new SplittableRandom(50);
            for (int t = 0; t < ids.length; t++) ids[t] = t < special.length ? special[t] : rnd.nextInt(vocab);
            int count = ids.length;
            Buf rows = Buf.zeros(count * dim);
            k.elementwise().embeddingGather(count, ids, 0, vocab, dim, table, 3, type, rows.segment(), rows.offset());
            float[] rowsExpected = new float[count * dim];
            for (int t = 0; t < count; t++) System.arraycopy(expected, ids[t] * dim, rowsExpected, t * dim, dim);
            assertBitwiseEqual(k + " " + type + " widening, rows of 37", rowsExpected, rows.read());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void gatherCopiesTheRowsOfAnF32TableForAwkwardDims(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(51);
        for (int dim : ElementwiseTesting.AWKWARD) {
            int vocab = 11, count = 9;
            float[] table = random(rnd, vocab * dim, -1, 1);
            Buf tb = Buf.of(table);
            int[] ids = new int[count + 2];
            for (int t = 0; t < ids.length; t++) ids[t] = rnd.nextInt(vocab);
            ids[3] = ids[4];  // a repeated id
            Buf out = Buf.zeros(count * dim);
            k.elementwise().embeddingGather(count, ids, 2, vocab, dim, tb.segment(), tb.offset(), DType.F32,
                    out.segment(), out.offset());
            float[] expected = new float[count * dim];
            for (int t = 0; t < count; t++) System.arraycopy(table, ids[2 + t] * dim, expected, t * dim, dim);
            assertBitwiseEqual(k + " F32 gather dim=" + dim, expected, out.read());
            out.assertGuardsIntact(k + " F32 gather dim=" + dim);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void scatterAddAccumulatesRepeatedIdsInTokenOrder(Kernels k) {
        SplittableRandom rnd = new SplittableRandom(52);
        for (int dim : ElementwiseTesting.AWKWARD) {
            int vocab = 6, count = 25;
            int[] ids = new int[count];
            for (int t = 0; t < count; t++) ids[t] = rnd.nextInt(3);  // ids 0..2 repeat, 3..5 untouched
            float[] dy = random(rnd, count * dim, -1, 1), table0 = random(rnd, vocab * dim, -1, 1);
            Buf dyb = Buf.of(dy), tb = Buf.of(table0);
            k.elementwise().embeddingScatterAdd(count, ids, 0, vocab, dim, dyb.segment(), dyb.offset(),
                    tb.segment(), tb.offset());
            // Float additions in token order are exactly what the interface promises, so compare bits.
            float[] expected = table0.clone();
            for (int t = 0; t < count; t++) {
                for (int j = 0; j < dim; j++) expected[ids[t] * dim + j] += dy[t * dim + j];
            }
            assertBitwiseEqual(k + " scatter-add dim=" + dim, expected, tb.read());
            tb.assertGuardsIntact(k + " scatter-add dim=" + dim);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void scatterAddIsBitwiseIdenticalForAnyThreadCount(Kernels k) {
        int vocab = 40, count = 500, dim = 256;
        SplittableRandom rnd = new SplittableRandom(53);
        int[] ids = new int[count];
        for (int t = 0; t < count; t++) ids[t] = rnd.nextInt(vocab);
        float[] dy = random(rnd, count * dim, -1, 1);
        Buf dyb = Buf.of(dy);
        assertTrue(ElementwiseSupport.scatterBlocks(count, dim) > 1, "the test needs several column blocks");
        ElementwiseTesting.assertSameBitsForAnyThreadCount(k + " scatter-add", () -> {
            Buf tb = Buf.zeros(vocab * dim);
            k.elementwise().embeddingScatterAdd(count, ids, 0, vocab, dim, dyb.segment(), dyb.offset(), tb.segment(), tb.offset());
            return tb.read();
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void idsOutsideTheVocabularyAreRejectedBeforeAnythingIsWritten(Kernels k) {
        int vocab = 4, dim = 3;
        Buf table = Buf.of(new float[vocab * dim]), out = Buf.zeros(2 * dim), dy = Buf.of(new float[] {1, 1, 1, 1, 1, 1});
        IndexOutOfBoundsException gather = assertThrows(IndexOutOfBoundsException.class, () -> k.elementwise()
                .embeddingGather(2, new int[] {1, 4}, 0, vocab, dim, table.segment(), table.offset(), DType.F32,
                        out.segment(), out.offset()));
        assertTrue(gather.getMessage().contains("token id 4"), gather.getMessage());
        IndexOutOfBoundsException scatter = assertThrows(IndexOutOfBoundsException.class, () -> k.elementwise()
                .embeddingScatterAdd(2, new int[] {0, -1}, 0, vocab, dim, dy.segment(), dy.offset(), table.segment(),
                        table.offset()));
        assertTrue(scatter.getMessage().contains("token id -1"), scatter.getMessage());
        assertBitwiseEqual(k + " table untouched after a rejected scatter", new float[vocab * dim], table.read());
        assertThrows(IllegalArgumentException.class, () -> k.elementwise().embeddingGather(1, new int[] {0}, 0, vocab,
                dim, table.segment(), table.offset(), DType.I8, out.segment(), out.offset()));
    }
}
