package dev.retort.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

/** copyInto takes three paths (whole buffer, contiguous rows, element by element); all copy the same elements. */
class TensorCopyTest {

    @Test
    void everyCopyPathMovesTheRightElements() {
        try (Arena arena = Arena.ofShared()) {
            float[] values = new float[4 * 5 * 6];
            for (int i = 0; i < values.length; i++) values[i] = i;
            Tensor t = Tensor.of(arena, values, 4, 5, 6);
            Tensor[] views = {
                t,                                  // contiguous: one bulk copy
                t.slice(2, 1, 5).slice(0, 1, 3),    // rows of 4 contiguous floats with gaps: row copies
                t.slice(1, 2, 4),                   // whole rows, outer gaps: row copies
                t.transpose(0, 2),                  // last axis strided: element by element
                t.select(2, 3),                     // one column: element by element
            };
            for (Tensor view : views) {
                Tensor copy = Tensor.zeros(arena, DType.F32, view.shape());
                view.copyInto(copy);
                for (long i = 0; i < view.size(); i++) {
                    assertEquals(view.getFlat(i), copy.getFlat(i), "element " + i + " of " + view);
                }
                Tensor bf16 = Tensor.zeros(arena, DType.BF16, view.shape());   // dtype change: element path
                view.copyInto(bf16);
                assertEquals(Half.bf16ToFloat(Half.floatToBf16(view.getFlat(view.size() - 1))), bf16.getFlat(view.size() - 1));
            }
        }
    }
}
