package dev.retort.tensor.kernels.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register-tiled inner kernel: C tile [MR x NR] = alpha · (packed A panel [MR x kc]) · (packed B panel
 * [kc x NR]) + beta · C tile, with the whole tile of C held in vector registers across the k loop.
 *
 * <p>Each k step loads NV = NR/VL vectors of B once and, for each of the MR rows, broadcasts one element of A
 * and issues NV fused multiply-adds: MR·NV FMAs for NV + MR loads, so the loop is bound by the FMA units, not
 * by loads. The tile is chosen per width so that MR·NV accumulators + NV B vectors + 1 broadcast fit the
 * register file:
 * <ul>
 *   <li>512-bit (AVX-512, 32 registers): 8 x 3 vectors = 24 accumulators, 28 registers live;
 *   <li>narrower widths (AVX2 has 16 registers; NEON 32 but shorter vectors): 6 x 2 vectors = 12 accumulators,
 *       15 registers live.
 * </ul>
 * Edge tiles (mr &lt; MR or nr &lt; NR) run the same loop on zero-padded panels and write through a small
 * buffer, so every element of C sees the same arithmetic wherever its tile lies.
 */
final class GemmMicroKernel {
    private GemmMicroKernel() {}

    private static final VectorSpecies<Float> F = Simd.F;
    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final int VL = F.length();
    private static final boolean WIDE = Simd.BITS >= 512;
    /** Rows of C per micro-tile (elements of A broadcast per k step). */
    static final int MR = WIDE ? 8 : 6;
    /** Vectors of C per micro-tile row. */
    static final int NV = WIDE ? 3 : 2;
    /** Columns of C per micro-tile. */
    static final int NR = NV * VL;

    /**
     * C[cAt + r·ldc + j] = alpha · Σ_p ap[aPanel + r·kc + p] · bp[bPanel + p·NR + j] + beta · C[...] for r &lt; mr,
     * j &lt; nr (beta == 0 overwrites C). {@code edge} is scratch of at least MR·NR floats.
     */
    static void multiply(int kc, float[] ap, int aPanel, float[] bp, int bPanel,
                         MemorySegment c, long cAt, int ldc, int mr, int nr,
                         float alpha, float beta, float[] edge) {
        if (WIDE) kernel8x3(kc, ap, aPanel, bp, bPanel, c, cAt, ldc, mr, nr, alpha, beta, edge);
        else kernel6x2(kc, ap, aPanel, bp, bPanel, c, cAt, ldc, mr, nr, alpha, beta, edge);
    }

    /** 8 rows x 3 vectors: 24 accumulators + 3 B vectors + 1 broadcast A register. */
    private static void kernel8x3(int kc, float[] ap, int aPanel, float[] bp, int bPanel,
                                  MemorySegment c, long cAt, int ldc, int mr, int nr,
                                  float alpha, float beta, float[] edge) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F), c42 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F), c52 = FloatVector.zero(F);
        FloatVector c60 = FloatVector.zero(F), c61 = FloatVector.zero(F), c62 = FloatVector.zero(F);
        FloatVector c70 = FloatVector.zero(F), c71 = FloatVector.zero(F), c72 = FloatVector.zero(F);
        int a0 = aPanel;
        int a1 = aPanel + 1 * kc;
        int a2 = aPanel + 2 * kc;
        int a3 = aPanel + 3 * kc;
        int a4 = aPanel + 4 * kc;
        int a5 = aPanel + 5 * kc;
        int a6 = aPanel + 6 * kc;
        int a7 = aPanel + 7 * kc;
        for (int p = 0; p < kc; p++) {
            int b = bPanel + p * NR;
            FloatVector b0 = FloatVector.fromArray(F, bp, b);
            FloatVector b1 = FloatVector.fromArray(F, bp, b + VL);
            FloatVector b2 = FloatVector.fromArray(F, bp, b + 2 * VL);
            FloatVector a = FloatVector.broadcast(F, ap[a0 + p]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02);
            a = FloatVector.broadcast(F, ap[a1 + p]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12);
            a = FloatVector.broadcast(F, ap[a2 + p]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22);
            a = FloatVector.broadcast(F, ap[a3 + p]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32);
            a = FloatVector.broadcast(F, ap[a4 + p]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41); c42 = a.fma(b2, c42);
            a = FloatVector.broadcast(F, ap[a5 + p]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51); c52 = a.fma(b2, c52);
            a = FloatVector.broadcast(F, ap[a6 + p]);
            c60 = a.fma(b0, c60); c61 = a.fma(b1, c61); c62 = a.fma(b2, c62);
            a = FloatVector.broadcast(F, ap[a7 + p]);
            c70 = a.fma(b0, c70); c71 = a.fma(b1, c71); c72 = a.fma(b2, c72);
        }
        // The tile goes through the edge buffer (vector stores, inlined) rather than 3·MR calls taking a vector
        // each: C2 would not inline update ("callee is too large") and boxed every accumulator it was passed.
        c00.intoArray(edge, 0 * NR + 0 * VL); c01.intoArray(edge, 0 * NR + 1 * VL); c02.intoArray(edge, 0 * NR + 2 * VL);
        c10.intoArray(edge, 1 * NR + 0 * VL); c11.intoArray(edge, 1 * NR + 1 * VL); c12.intoArray(edge, 1 * NR + 2 * VL);
        c20.intoArray(edge, 2 * NR + 0 * VL); c21.intoArray(edge, 2 * NR + 1 * VL); c22.intoArray(edge, 2 * NR + 2 * VL);
        c30.intoArray(edge, 3 * NR + 0 * VL); c31.intoArray(edge, 3 * NR + 1 * VL); c32.intoArray(edge, 3 * NR + 2 * VL);
        c40.intoArray(edge, 4 * NR + 0 * VL); c41.intoArray(edge, 4 * NR + 1 * VL); c42.intoArray(edge, 4 * NR + 2 * VL);
        c50.intoArray(edge, 5 * NR + 0 * VL); c51.intoArray(edge, 5 * NR + 1 * VL); c52.intoArray(edge, 5 * NR + 2 * VL);
        c60.intoArray(edge, 6 * NR + 0 * VL); c61.intoArray(edge, 6 * NR + 1 * VL); c62.intoArray(edge, 6 * NR + 2 * VL);
        c70.intoArray(edge, 7 * NR + 0 * VL); c71.intoArray(edge, 7 * NR + 1 * VL); c72.intoArray(edge, 7 * NR + 2 * VL);
        if (mr == MR && nr == NR) updateFull(edge, c, cAt, ldc, alpha, beta);
        else updateEdge(edge, c, cAt, ldc, mr, nr, alpha, beta);
    }

    /** 6 rows x 2 vectors: 12 accumulators + 2 B vectors + 1 broadcast A register. */
    private static void kernel6x2(int kc, float[] ap, int aPanel, float[] bp, int bPanel,
                                  MemorySegment c, long cAt, int ldc, int mr, int nr,
                                  float alpha, float beta, float[] edge) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F);
        int a0 = aPanel;
        int a1 = aPanel + 1 * kc;
        int a2 = aPanel + 2 * kc;
        int a3 = aPanel + 3 * kc;
        int a4 = aPanel + 4 * kc;
        int a5 = aPanel + 5 * kc;
        for (int p = 0; p < kc; p++) {
            int b = bPanel + p * NR;
            FloatVector b0 = FloatVector.fromArray(F, bp, b);
            FloatVector b1 = FloatVector.fromArray(F, bp, b + VL);
            FloatVector a = FloatVector.broadcast(F, ap[a0 + p]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(F, ap[a1 + p]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(F, ap[a2 + p]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(F, ap[a3 + p]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(F, ap[a4 + p]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(F, ap[a5 + p]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
        }
        // The tile goes through the edge buffer (vector stores, inlined) rather than 3·MR calls taking a vector
        // each: C2 would not inline update ("callee is too large") and boxed every accumulator it was passed.
        c00.intoArray(edge, 0 * NR + 0 * VL); c01.intoArray(edge, 0 * NR + 1 * VL);
        c10.intoArray(edge, 1 * NR + 0 * VL); c11.intoArray(edge, 1 * NR + 1 * VL);
        c20.intoArray(edge, 2 * NR + 0 * VL); c21.intoArray(edge, 2 * NR + 1 * VL);
        c30.intoArray(edge, 3 * NR + 0 * VL); c31.intoArray(edge, 3 * NR + 1 * VL);
        c40.intoArray(edge, 4 * NR + 0 * VL); c41.intoArray(edge, 4 * NR + 1 * VL);
        c50.intoArray(edge, 5 * NR + 0 * VL); c51.intoArray(edge, 5 * NR + 1 * VL);
        if (mr == MR && nr == NR) updateFull(edge, c, cAt, ldc, alpha, beta);
        else updateEdge(edge, c, cAt, ldc, mr, nr, alpha, beta);
    }

    /** One vector of a C row: alpha·acc, plus beta·C unless beta is 0 (so a NaN in C is overwritten). */
    /** C tile [MR x NR] = alpha · tile (+ beta · C), the tile [MR x NR] row-major in {@code tile}: whole vectors. */
    private static void updateFull(float[] tile, MemorySegment c, long cAt, int ldc, float alpha, float beta) {
        FloatVector a = FloatVector.broadcast(F, alpha), b = FloatVector.broadcast(F, beta);
        for (int r = 0; r < MR; r++) {
            long row = (cAt + (long) r * ldc) * 4;
            for (int v = 0; v < NV; v++) {
                FloatVector result = FloatVector.fromArray(F, tile, r * NR + v * VL).mul(a);
                long at = row + (long) v * VL * 4;
                if (beta != 0f) result = FloatVector.fromMemorySegment(F, c, at, ORDER).fma(b, result);
                result.intoMemorySegment(c, at, ORDER);
            }
        }
    }

    /** The valid [mr x nr] corner of an edge tile, with the same rounding as {@link #updateFull}. */
    private static void updateEdge(float[] edge, MemorySegment c, long cAt, int ldc, int mr, int nr,
                                   float alpha, float beta) {
        for (int r = 0; r < mr; r++) {
            long row = cAt + (long) r * ldc;
            for (int j = 0; j < nr; j++) {
                float product = alpha * edge[r * NR + j];
                float old = beta == 0f ? 0f : c.getAtIndex(F32, row + j);
                c.setAtIndex(F32, row + j, beta == 0f ? product : Math.fma(old, beta, product));
            }
        }
    }
}
