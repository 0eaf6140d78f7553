package dev.retort.tensor.kernels.simd;

import static dev.retort.tensor.kernels.simd.GemmMicroKernel.MR;
import static dev.retort.tensor.kernels.simd.GemmMicroKernel.NR;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import dev.retort.tensor.Q8Block;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Copies blocks of op(A) and op(B) into the contiguous layouts the micro-kernel reads, widening 16-bit B to F32
 * on the way (a packed block at a time, never the whole matrix).
 *
 * <ul>
 *   <li>Packed A: micro-panels of {@code MR} rows; panel q holds rows [q·MR, q·MR+MR) of the block as
 *       {@code [MR][kc]} (row r at {@code q·MR·kc + r·kc}). For AB and ABT that is a plain copy of each row.
 *   <li>Packed B: micro-panels of {@code NR} columns; panel q holds columns [q·NR, q·NR+NR) as {@code [kc][NR]}
 *       (k step p at {@code q·NR·kc + p·NR}), so the kernel loads NR/VL whole vectors per k step. For AB and
 *       ATB each k step is a contiguous row piece of B; for ABT it is a column of the stored B (a transpose).
 * </ul>
 * Rows and columns past the edge of the matrix are zero-filled, so edge tiles run the same kernel.
 */
final class GemmPacking {
    private GemmPacking() {}

    private static final int VL = Simd.F.length();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    /** Packs op(A) rows [i0, i0+mc) and k steps [p0, p0+kc) into {@code ap} (ceil(mc/MR) panels). */
    static void packA(Layout layout, MemorySegment a, long aOffset, int lda,
                      int i0, int mc, int p0, int kc, float[] ap) {
        int panels = (mc + MR - 1) / MR;
        for (int q = 0; q < panels; q++) {
            int panel = q * MR * kc;
            for (int r = 0; r < MR; r++) {
                int i = q * MR + r;
                int dst = panel + r * kc;
                if (i >= mc) {
                    java.util.Arrays.fill(ap, dst, dst + kc, 0f);
                } else if (layout != Layout.ATB) {
                    // A stored [m x k]: row i of the block is contiguous in k.
                    MemorySegment.copy(a, F32, (aOffset + (long) (i0 + i) * lda + p0) * 4, ap, dst, kc);
                } else {
                    // A stored [k x m]: op(A)[i, p] = A[p, i], a column of the stored matrix.
                    long at = aOffset + (long) p0 * lda + i0 + i;
                    for (int p = 0; p < kc; p++, at += lda) ap[dst + p] = a.getAtIndex(F32, at);
                }
            }
        }
    }

    /**
     * Packs op(B) k steps [p0, p0+kc) and columns [j0, j0+nc) into {@code bp} (ceil(nc/NR) panels). {@code row}
     * (kc floats) is scratch for the ABT transpose.
     */
    static void packB(Layout layout, MemorySegment b, long bOffset, int ldb, DType bType,
                      int p0, int kc, int j0, int nc, float[] bp, float[] row) {
        if (layout == Layout.ABT) {
            packBTransposed(b, bOffset, ldb, bType, p0, kc, j0, nc, bp, row);
        } else {
            for (int p = 0; p < kc; p++) packBRow(b, bOffset + (long) (p0 + p) * ldb + j0, bType, nc, p, kc, bp);
        }
    }

    /**
     * B stored [k x n]: k step p of the block is the row piece B[p0+p, j0 .. j0+nc), contiguous. Column j goes to
     * panel j/NR at lane j%NR; a vector of VL columns starting at a multiple of VL never straddles two panels.
     */
    private static void packBRow(MemorySegment b, long rowStart, DType bType, int nc, int p, int kc, float[] bp) {
        int j = 0;
        if (bType == DType.F32) {
            for (; j + VL <= nc; j += VL) {
                FloatVector.fromMemorySegment(Simd.F, b, (rowStart + j) * 4, ORDER).intoArray(bp, packedIndex(j, p, kc));
            }
        } else if (bType != DType.Q8_0) {
            boolean bf16 = bType == DType.BF16;
            for (; j + 2 * VL <= nc; j += 2 * VL) {
                ShortVector halves = ShortVector.fromMemorySegment(Simd.S, b, (rowStart + j) * 2, ORDER);
                widen(halves, 0, bf16).intoArray(bp, packedIndex(j, p, kc));
                widen(halves, 1, bf16).intoArray(bp, packedIndex(j + VL, p, kc));
            }
        }
        for (; j < nc; j++) bp[packedIndex(j, p, kc)] = load(b, rowStart + j, bType);
        // Zero the padding lanes of the last panel so edge tiles compute zeros there.
        int padded = (nc + NR - 1) / NR * NR;
        for (; j < padded; j++) bp[packedIndex(j, p, kc)] = 0f;
    }

    /**
     * B stored [n x k]: op(B)[p, j] = B[j, p], so packing is a transpose. Each stored row is first copied (and
     * widened, vectorised) into {@code row}, then scattered down its lane of the panel. (Measured on Zen 4: an
     * in-register VL x VL transpose with two-vector selectFrom was only ~15% faster than this loop, and a gather
     * per k step was twice as slow, so the plain loop stays.)
     */
    private static void packBTransposed(MemorySegment b, long bOffset, int ldb, DType bType,
                                        int p0, int kc, int j0, int nc, float[] bp, float[] row) {
        int padded = (nc + NR - 1) / NR * NR;
        for (int j = 0; j < padded; j++) {
            int dst = packedIndex(j, 0, kc);
            if (j >= nc) {
                for (int p = 0; p < kc; p++) bp[dst + p * NR] = 0f;
                continue;
            }
            widenRow(b, bOffset + (long) (j0 + j) * ldb + p0, bType, kc, row, 0);
            for (int p = 0; p < kc; p++) bp[dst + p * NR] = row[p];
        }
    }

    /** out[at .. at+count) = the count elements of type starting at element {@code start}, widened to F32. */
    static void widenRow(MemorySegment s, long start, DType type, int count, float[] out, int at) {
        int q = 0;
        if (type == DType.F32) {
            MemorySegment.copy(s, F32, start * 4, out, at, count);
            return;
        }
        if (type == DType.Q8_0) {
            Q8Block.dequantize(s, start, count, out, at);
            return;
        }
        boolean bf16 = type == DType.BF16;
        for (; q + 2 * VL <= count; q += 2 * VL) {
            ShortVector halves = ShortVector.fromMemorySegment(Simd.S, s, (start + q) * 2, ORDER);
            widen(halves, 0, bf16).intoArray(out, at + q);
            widen(halves, 1, bf16).intoArray(out, at + q + VL);
        }
        for (; q < count; q++) out[at + q] = load(s, start + q, type);
    }

    /** Where column j (of the block), k step p lands in packed B. */
    private static int packedIndex(int j, int p, int kc) {
        return (j / NR) * NR * kc + p * NR + j % NR;
    }

    static float load(MemorySegment s, long element, DType type) {
        return switch (type) {
            case F32 -> s.getAtIndex(F32, element);
            case BF16 -> Half.bf16ToFloat(s.getAtIndex(I16, element));
            case F16 -> Half.f16ToFloat(s.getAtIndex(I16, element));
            case Q8_0 -> Q8Block.get(s, element);
            default -> throw new IllegalArgumentException("unsupported type " + type);
        };
    }

    /** Widens half {@code part} (0: lanes [0, VL), 1: lanes [VL, 2·VL)) of 16-bit floats to F32. */
    static FloatVector widen(ShortVector halves, int part, boolean bf16) {
        IntVector bits = (IntVector) halves.convertShape(VectorOperators.S2I, Simd.I, part);
        return bf16 ? bf16ToFloat(bits) : f16ToFloat(bits);
    }

    /** BF16 is the top half of an F32. */
    static FloatVector bf16ToFloat(IntVector bits) {
        return bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * IEEE binary16 (in the low 16 bits of each lane) to F32, exactly, with integer tricks and no masks — the one
     * F16 widening of the SIMD kernels (GEMM panels, matvec, embeddings). The 15 magnitude bits shifted into
     * place form an F32 whose exponent is 112 too small, so one exact multiply by 2^112 fixes normals and
     * subnormals alike. Inf and NaN (exponent all ones, magnitude &gt;= 0x7c00) come out of that multiply as
     * finite numbers with the payload intact; OR-ing in the all-ones F32 exponent repairs them, and a NaN
     * (magnitude &gt; 0x7c00) also gets the quiet bit, as {@link Float#float16ToFloat} and the hardware give it.
     * (magnitude + 0x400) &gt;&gt;&gt; 15 is 1 exactly for Inf and NaN, (magnitude + 0x3ff) &gt;&gt;&gt; 15 exactly for
     * NaN; negated, each is an all-ones mask. Blends on comparison masks measured several times slower here.
     */
    static FloatVector f16ToFloat(IntVector bits) {
        IntVector sign = bits.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector magnitude = bits.and(0x7fff);
        IntVector finite = magnitude.lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        IntVector infOrNan = magnitude.add(0x400).lanewise(VectorOperators.LSHR, 15).neg().and(0x7f800000);
        IntVector quietNan = magnitude.add(0x3ff).lanewise(VectorOperators.LSHR, 15).neg().and(0x00400000);
        return finite.or(infOrNan).or(quietNan).or(sign).reinterpretAsFloats();
    }
}
