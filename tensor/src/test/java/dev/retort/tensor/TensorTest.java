package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TensorTest {
    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void close() {
        arena.close();
    }

    /** A [2 × 3 × 4] tensor holding 0, 1, ..., 23 in row-major order. */
    private Tensor iota234() {
        float[] values = new float[24];
        for (int i = 0; i < values.length; i++) values[i] = i;
        return Tensor.of(arena, values, 2, 3, 4);
    }

    @Test
    void zerosIsContiguousRowMajorAndZero() {
        Tensor t = Tensor.zeros(arena, DType.F32, 2, 3, 4);
        assertArrayEquals(new int[] {2, 3, 4}, t.shape());
        assertArrayEquals(new long[] {12, 4, 1}, t.strides());
        assertEquals(24, t.size());
        assertTrue(t.isContiguous());
        assertArrayEquals(new float[24], t.toFloatArray());
        assertEquals(24 * 4, t.segment().byteSize());
    }

    @Test
    void getAndSetIndexRowMajor() {
        Tensor t = iota234();
        assertEquals(1 * 12 + 2 * 4 + 3, t.get(1, 2, 3));
        t.set(-5f, 0, 1, 2);
        assertEquals(-5f, t.getFlat(6));
        assertThrows(IndexOutOfBoundsException.class, () -> t.get(2, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> t.get(0, 0));
    }

    @Test
    void sliceSharesMemoryAndIndexesFromItsStart() {
        Tensor t = iota234();
        Tensor s = t.slice(1, 1, 3); // [2 × 2 × 4], rows 1..2 of axis 1
        assertArrayEquals(new int[] {2, 2, 4}, s.shape());
        assertEquals(t.get(1, 2, 3), s.get(1, 1, 3));
        assertEquals(t.get(0, 1, 0), s.get(0, 0, 0));
        assertFalse(s.isContiguous());
        assertArrayEquals(new float[] {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23}, t.slice(-1, 2, 4).toFloatArray());
        s.set(100f, 1, 0, 2);
        assertEquals(100f, t.get(1, 1, 2), "a write through the slice shows in the original");
        assertThrows(IndexOutOfBoundsException.class, () -> t.slice(0, 1, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> t.slice(2, 3, 2));
    }

    @Test
    void selectDropsTheAxisAndSharesMemory() {
        Tensor t = iota234();
        Tensor row = t.select(1, 2); // [2 × 4]: t[:, 2, :]
        assertArrayEquals(new int[] {2, 4}, row.shape());
        assertArrayEquals(new float[] {8, 9, 10, 11, 20, 21, 22, 23}, row.toFloatArray());
        row.set(-1f, 1, 0);
        assertEquals(-1f, t.get(1, 2, 0));
        Tensor scalarLike = t.select(0, 1).select(0, 0).select(0, 3);
        assertEquals(0, scalarLike.rank());
        assertEquals(15f, scalarLike.get());
        assertThrows(IndexOutOfBoundsException.class, () -> t.select(0, 2));
    }

    @Test
    void transposeSwapsStridesAndSharesMemory() {
        Tensor t = iota234();
        Tensor tt = t.transpose(0, 2); // [4 × 3 × 2]
        assertArrayEquals(new int[] {4, 3, 2}, tt.shape());
        assertArrayEquals(new long[] {1, 4, 12}, tt.strides());
        assertFalse(tt.isContiguous());
        for (int a = 0; a < 2; a++) {
            for (int b = 0; b < 3; b++) {
                for (int c = 0; c < 4; c++) assertEquals(t.get(a, b, c), tt.get(c, b, a), "at " + a + "," + b + "," + c);
            }
        }
        tt.set(7.5f, 3, 0, 1);
        assertEquals(7.5f, t.get(1, 0, 3));
        Tensor back = tt.transpose(-1, 0);
        assertTrue(back.isContiguous());
        assertArrayEquals(t.toFloatArray(), back.toFloatArray());
    }

    @Test
    void toFloatArrayReadsViewsInTheirOwnRowMajorOrder() {
        Tensor t = iota234();
        assertArrayEquals(new float[] {0, 4, 8, 12, 16, 20}, t.select(2, 0).transpose(0, 1).transpose(0, 1).toFloatArray());
        assertArrayEquals(new float[] {0, 12, 4, 16, 8, 20}, t.select(2, 0).transpose(0, 1).toFloatArray());
        // A contiguous view with an offset: the fast path must start at the view, not the segment.
        assertArrayEquals(new float[] {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, t.select(0, 1).toFloatArray());
    }

    @Test
    void reshapeSharesMemoryAndInfersMinusOne() {
        Tensor t = iota234();
        Tensor r = t.reshape(6, -1);
        assertArrayEquals(new int[] {6, 4}, r.shape());
        assertEquals(t.get(1, 1, 2), r.get(4, 2));
        r.set(99f, 5, 3);
        assertEquals(99f, t.get(1, 2, 3));
        assertArrayEquals(new int[] {24}, t.reshape(-1).shape());
        assertArrayEquals(new int[] {2, 6}, t.select(0, 1).reshape(-1, 6).reshape(2, -1).shape());
        assertEquals(12f, t.select(0, 1).reshape(-1).get(0), "reshape of an offset view keeps the offset");
        assertThrows(IllegalArgumentException.class, () -> t.reshape(5, -1), "24 is not a multiple of 5");
        assertThrows(IllegalArgumentException.class, () -> t.reshape(-1, -1));
        assertThrows(IllegalArgumentException.class, () -> t.reshape(5, 5));
    }

    @Test
    void reshapeOfANonContiguousViewIsAClearError() {
        Tensor view = iota234().transpose(1, 2);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> view.reshape(2, 12));
        assertTrue(e.getMessage().contains("contiguous"), e.getMessage());
        Tensor copy = view.contiguous(arena);
        assertArrayEquals(view.toFloatArray(), copy.reshape(2, 12).toFloatArray());
    }

    @Test
    void contiguousCopiesAViewAndReturnsAContiguousTensorItself() {
        Tensor t = iota234();
        assertSame(t, t.contiguous(arena));
        Tensor view = t.transpose(0, 1).slice(2, 1, 3); // [3 × 2 × 2]
        Tensor copy = view.contiguous(arena);
        assertNotSame(view.segment(), copy.segment());
        assertTrue(copy.isContiguous());
        assertArrayEquals(view.shape(), copy.shape());
        assertArrayEquals(view.toFloatArray(), copy.toFloatArray());
        copy.set(-3f, 0, 0, 0);
        assertEquals(1f, view.get(0, 0, 0), "the copy does not write back");
    }

    @Test
    void halfTensorsStoreRoundedValues() {
        // BF16 keeps 8 significant bits (ulp 2^-7 at 1.0): round to nearest, ties to even.
        float[] values = {1f + 0x1p-9f, 1f + 3 * 0x1p-9f, 1f + 0x1p-8f, 1f + 3 * 0x1p-8f, 3.14159265f, -65504f};
        float[] bf16Expected = {1f, 1f + 0x1p-7f, 1f, 1f + 0x1p-6f, 3.140625f, -65536f};
        Tensor bf16 = Tensor.of(arena, DType.BF16, values, 6);
        assertEquals(DType.BF16, bf16.dtype());
        assertEquals(12, bf16.segment().byteSize(), "two bytes per element");
        assertArrayEquals(bf16Expected, bf16.toFloatArray());
        // F16 keeps 11 significant bits (ulp 2^-10 at 1.0) and overflows to infinity from 65520.
        float[] f16Values = {1f + 0x1p-11f, 1f + 3 * 0x1p-11f, 1f + 0x1p-12f, 3.14159265f, 65519f, 65520f};
        float[] f16Expected = {1f, 1f + 0x1p-9f, 1f, 3.140625f, 65504f, Float.POSITIVE_INFINITY};
        Tensor f16 = Tensor.of(arena, DType.F16, f16Values, 6);
        assertArrayEquals(f16Expected, f16.toFloatArray());
        bf16.set(1f + 0x1p-7f + 0x1p-8f, 0); // a tie between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
        assertEquals(1f + 0x1p-6f, bf16.get(0));
        Tensor narrowed = Tensor.zeros(arena, DType.BF16, 6);
        Tensor.of(arena, values, 6).copyInto(narrowed);
        assertArrayEquals(bf16Expected, narrowed.toFloatArray(), "copyInto narrows to the destination type");
    }

    @Test
    void wrapRejectsTooSmallSegmentsAndSharesLargeEnoughOnes() {
        MemorySegment segment = arena.allocate(10 * 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.wrap(segment, DType.F32, 3, 4));
        assertTrue(e.getMessage().contains("40 bytes") && e.getMessage().contains("48 bytes"), e.getMessage());
        Tensor halves = Tensor.wrap(segment, DType.BF16, 4, 5); // 20 BF16 = 40 bytes: fits exactly
        assertEquals(20, halves.size());
        Tensor t = Tensor.wrap(segment, DType.F32, 2, 5);
        t.set(4.25f, 1, 2);
        assertEquals(4.25f, segment.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, 7));
        assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(arena, DType.F32, 2, -1));
    }

    @Test
    void ofRejectsAWrongNumberOfValues() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.of(arena, new float[5], 2, 3));
        assertTrue(e.getMessage().contains("5 values"), e.getMessage());
    }

    @Test
    void fillWritesEveryElementOfAView() {
        Tensor t = iota234();
        t.slice(2, 1, 2).fill(-1f);
        float[] all = t.toFloatArray();
        for (int i = 0; i < all.length; i++) assertEquals(i % 4 == 1 ? -1f : i, all[i], "element " + i);
    }
}
