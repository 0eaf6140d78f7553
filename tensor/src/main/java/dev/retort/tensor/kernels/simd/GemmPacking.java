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

    /**
     * Packs op(A) rows [i0, i0+mc) and k steps [p0, p0+kc) into {@code ap} (ceil(mc/MR) panels). Panel q starts
     * at q·MR·kc and its row r at r·kc, so row i of the block is simply at i·kc: packed A is [rows][kc].
     */
    static void packA(Layout layout, MemorySegment a, long aOffset, int lda,
                      int i0, int mc, int p0, int kc, float[] ap) {
        int padded = (mc + MR - 1) / MR * MR;
        int i = 0;
        if (layout == Layout.ATB) {
            // A stored [k x m]: op(A)[i, p] = A[p, i]. VL stored rows (k steps) by VL columns (rows of the block)
            // at a time are transposed in registers, while all VL columns lie inside the block.
            for (; i + VL <= mc; i += VL) {
                long column = aOffset + (long) p0 * lda + i0 + i;
                int p = 0;
                for (; p + VL <= kc; p += VL) transposeBlock(a, column + (long) p * lda, lda, ap, i * kc + p, kc);
                for (; p < kc; p++) {
                    for (int r = 0; r < VL; r++) ap[(i + r) * kc + p] = a.getAtIndex(F32, column + (long) p * lda + r);
                }
            }
        }
        for (; i < padded; i++) {
            int dst = i * kc;
            if (i >= mc) {
                java.util.Arrays.fill(ap, dst, dst + kc, 0f);
            } else if (layout != Layout.ATB) {
                // A stored [m x k]: row i of the block is contiguous in k.
                MemorySegment.copy(a, F32, (aOffset + (long) (i0 + i) * lda + p0) * 4, ap, dst, kc);
            } else {
                long at = aOffset + (long) p0 * lda + i0 + i;
                for (int p = 0; p < kc; p++, at += lda) ap[dst + p] = a.getAtIndex(F32, at);
            }
        }
    }

    /**
     * Packs op(B) k steps [p0, p0+kc) and columns [j0, j0+nc) into {@code bp} (ceil(nc/NR) panels). {@code rows}
     * (VL·kc floats) is scratch for the ABT transpose.
     */
    static void packB(Layout layout, MemorySegment b, long bOffset, int ldb, DType bType,
                      int p0, int kc, int j0, int nc, float[] bp, float[] rows) {
        if (layout == Layout.ABT) {
            packBTransposed(b, bOffset, ldb, bType, p0, kc, j0, nc, bp, rows);
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
     * B stored [n x k]: op(B)[p, j] = B[j, p], so packing is a transpose, done VL stored rows at a time (NR is a
     * multiple of VL, so a group never straddles two panels). A whole group of F32 rows is transposed straight
     * from B ({@link #transposeRows}); a BF16/F16 group, or the last group where it runs past nc, is first
     * widened (or zero-filled) into {@code rows} ([VL][kc]) and transposed from there. (Measured on Zen 4: the
     * former per-element scatter ran at ~0.5 ns per element, a third of a 64-row A·Bᵀ.)
     */
    private static void packBTransposed(MemorySegment b, long bOffset, int ldb, DType bType,
                                        int p0, int kc, int j0, int nc, float[] bp, float[] rows) {
        int padded = (nc + NR - 1) / NR * NR;
        for (int j = 0; j < padded; j += VL) {
            int dst = packedIndex(j, 0, kc);
            if (bType == DType.F32 && j + VL <= nc) {
                transposeRows(b, bOffset + (long) (j0 + j) * ldb + p0, ldb, kc, bp, dst);
                continue;
            }
            for (int r = 0; r < VL; r++) {
                if (j + r < nc) widenRow(b, bOffset + (long) (j0 + j + r) * ldb + p0, bType, kc, rows, r * kc);
                else java.util.Arrays.fill(rows, r * kc, (r + 1) * kc, 0f);
            }
            transposeRows(MemorySegment.ofArray(rows), 0, kc, kc, bp, dst);
        }
    }

    /**
     * bp[dst + p·NR + r] = src[start + r·ld + p] for r &lt; VL, p &lt; kc: VL rows of kc floats (row stride ld)
     * become kc packed k steps of VL lanes. Whole VL x VL blocks are transposed in registers, the k tail element
     * by element.
     */
    private static void transposeRows(MemorySegment src, long start, long ld, int kc, float[] bp, int dst) {
        int p = 0;
        for (; p + VL <= kc; p += VL) transposeBlock(src, start + p, ld, bp, dst + p * NR, NR);
        for (; p < kc; p++) {
            for (int r = 0; r < VL; r++) bp[dst + p * NR + r] = src.getAtIndex(F32, start + r * ld + p);
        }
    }

    /**
     * One VL x VL block: rows src[at + r·ld .. +VL) for r &lt; VL go to out[dst + i·stride .. +VL) as columns,
     * i.e. lane r of output vector i is element i of row r. Written for up to 16 rows; rows and stages beyond VL
     * fold away (VL is a constant). Stage h swaps bit h of the row index with bit h of the lane index, pairing
     * rows r and r|h with one two-vector permute per output row (vpermt2ps on AVX-512): after the stages for
     * every h &lt; VL, row and lane have traded places.
     */
    private static void transposeBlock(MemorySegment src, long at, long ld, float[] out, int dst, int stride) {
        FloatVector z = FloatVector.zero(Simd.F);
        FloatVector v0 = row(src, at), v1 = row(src, at + ld);
        FloatVector v2 = VL > 2 ? row(src, at + 2 * ld) : z, v3 = VL > 2 ? row(src, at + 3 * ld) : z;
        FloatVector v4 = z, v5 = z, v6 = z, v7 = z, v8 = z, v9 = z, v10 = z, v11 = z;
        FloatVector v12 = z, v13 = z, v14 = z, v15 = z;
        if (VL > 4) {
            v4 = row(src, at + 4 * ld); v5 = row(src, at + 5 * ld);
            v6 = row(src, at + 6 * ld); v7 = row(src, at + 7 * ld);
        }
        if (VL > 8) {
            v8 = row(src, at + 8 * ld); v9 = row(src, at + 9 * ld);
            v10 = row(src, at + 10 * ld); v11 = row(src, at + 11 * ld);
            v12 = row(src, at + 12 * ld); v13 = row(src, at + 13 * ld);
            v14 = row(src, at + 14 * ld); v15 = row(src, at + 15 * ld);
        }
        FloatVector t;
        if (VL > 8) {
            t = LOW_8.selectFrom(v0, v8); v8 = HIGH_8.selectFrom(v0, v8); v0 = t;
            t = LOW_8.selectFrom(v1, v9); v9 = HIGH_8.selectFrom(v1, v9); v1 = t;
            t = LOW_8.selectFrom(v2, v10); v10 = HIGH_8.selectFrom(v2, v10); v2 = t;
            t = LOW_8.selectFrom(v3, v11); v11 = HIGH_8.selectFrom(v3, v11); v3 = t;
            t = LOW_8.selectFrom(v4, v12); v12 = HIGH_8.selectFrom(v4, v12); v4 = t;
            t = LOW_8.selectFrom(v5, v13); v13 = HIGH_8.selectFrom(v5, v13); v5 = t;
            t = LOW_8.selectFrom(v6, v14); v14 = HIGH_8.selectFrom(v6, v14); v6 = t;
            t = LOW_8.selectFrom(v7, v15); v15 = HIGH_8.selectFrom(v7, v15); v7 = t;
        }
        if (VL > 4) {
            t = LOW_4.selectFrom(v0, v4); v4 = HIGH_4.selectFrom(v0, v4); v0 = t;
            t = LOW_4.selectFrom(v1, v5); v5 = HIGH_4.selectFrom(v1, v5); v1 = t;
            t = LOW_4.selectFrom(v2, v6); v6 = HIGH_4.selectFrom(v2, v6); v2 = t;
            t = LOW_4.selectFrom(v3, v7); v7 = HIGH_4.selectFrom(v3, v7); v3 = t;
            if (VL > 8) {
                t = LOW_4.selectFrom(v8, v12); v12 = HIGH_4.selectFrom(v8, v12); v8 = t;
                t = LOW_4.selectFrom(v9, v13); v13 = HIGH_4.selectFrom(v9, v13); v9 = t;
                t = LOW_4.selectFrom(v10, v14); v14 = HIGH_4.selectFrom(v10, v14); v10 = t;
                t = LOW_4.selectFrom(v11, v15); v15 = HIGH_4.selectFrom(v11, v15); v11 = t;
            }
        }
        if (VL > 2) {
            t = LOW_2.selectFrom(v0, v2); v2 = HIGH_2.selectFrom(v0, v2); v0 = t;
            t = LOW_2.selectFrom(v1, v3); v3 = HIGH_2.selectFrom(v1, v3); v1 = t;
            if (VL > 4) {
                t = LOW_2.selectFrom(v4, v6); v6 = HIGH_2.selectFrom(v4, v6); v4 = t;
                t = LOW_2.selectFrom(v5, v7); v7 = HIGH_2.selectFrom(v5, v7); v5 = t;
            }
            if (VL > 8) {
                t = LOW_2.selectFrom(v8, v10); v10 = HIGH_2.selectFrom(v8, v10); v8 = t;
                t = LOW_2.selectFrom(v9, v11); v11 = HIGH_2.selectFrom(v9, v11); v9 = t;
                t = LOW_2.selectFrom(v12, v14); v14 = HIGH_2.selectFrom(v12, v14); v12 = t;
                t = LOW_2.selectFrom(v13, v15); v15 = HIGH_2.selectFrom(v13, v15); v13 = t;
            }
        }
        t = LOW_1.selectFrom(v0, v1); v1 = HIGH_1.selectFrom(v0, v1); v0 = t;
        if (VL > 2) {
            t = LOW_1.selectFrom(v2, v3); v3 = HIGH_1.selectFrom(v2, v3); v2 = t;
        }
        if (VL > 4) {
            t = LOW_1.selectFrom(v4, v5); v5 = HIGH_1.selectFrom(v4, v5); v4 = t;
            t = LOW_1.selectFrom(v6, v7); v7 = HIGH_1.selectFrom(v6, v7); v6 = t;
        }
        if (VL > 8) {
            t = LOW_1.selectFrom(v8, v9); v9 = HIGH_1.selectFrom(v8, v9); v8 = t;
            t = LOW_1.selectFrom(v10, v11); v11 = HIGH_1.selectFrom(v10, v11); v10 = t;
            t = LOW_1.selectFrom(v12, v13); v13 = HIGH_1.selectFrom(v12, v13); v12 = t;
            t = LOW_1.selectFrom(v14, v15); v15 = HIGH_1.selectFrom(v14, v15); v14 = t;
        }
        v0.intoArray(out, dst); v1.intoArray(out, dst + stride);
        if (VL > 2) { v2.intoArray(out, dst + 2 * stride); v3.intoArray(out, dst + 3 * stride); }
        if (VL > 4) {
            v4.intoArray(out, dst + 4 * stride); v5.intoArray(out, dst + 5 * stride);
            v6.intoArray(out, dst + 6 * stride); v7.intoArray(out, dst + 7 * stride);
        }
        if (VL > 8) {
            v8.intoArray(out, dst + 8 * stride); v9.intoArray(out, dst + 9 * stride);
            v10.intoArray(out, dst + 10 * stride); v11.intoArray(out, dst + 11 * stride);
            v12.intoArray(out, dst + 12 * stride); v13.intoArray(out, dst + 13 * stride);
            v14.intoArray(out, dst + 14 * stride); v15.intoArray(out, dst + 15 * stride);
        }
    }

    /** The VL floats at {@code element} of src. */
    private static FloatVector row(MemorySegment src, long element) {
        return FloatVector.fromMemorySegment(Simd.F, src, element * 4, ORDER);
    }

    /**
     * Index vectors of the transpose stage h (see {@link #transposeBlock}), selecting from the pair (a, b) as
     * lanes [0, VL) = a and [VL, 2·VL) = b. With r = a's row (bit h clear) and r|h = b's, the new row r takes
     * a's lanes whose bit h is clear and, where it is set, b's lane with that bit cleared; the new row r|h takes
     * a's lane with bit h set where it is clear, and b's own lane where it is set. Null where h is not below VL.
     */
    private static final FloatVector LOW_1 = stage(1, false), HIGH_1 = stage(1, true);
    private static final FloatVector LOW_2 = stage(2, false), HIGH_2 = stage(2, true);
    private static final FloatVector LOW_4 = stage(4, false), HIGH_4 = stage(4, true);
    private static final FloatVector LOW_8 = stage(8, false), HIGH_8 = stage(8, true);

    private static FloatVector stage(int h, boolean high) {
        if (h >= VL) return null;
        float[] index = new float[VL];
        for (int l = 0; l < VL; l++) {
            boolean set = (l & h) != 0;
            index[l] = high ? (set ? VL + l : l | h) : (set ? VL + (l & ~h) : l);
        }
        return FloatVector.fromArray(Simd.F, index, 0);
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
