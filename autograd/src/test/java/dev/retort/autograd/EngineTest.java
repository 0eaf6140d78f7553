package dev.retort.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.autograd.ops.Activations;
import dev.retort.autograd.ops.MatMul;
import dev.retort.autograd.ops.Reductions;
import dev.retort.autograd.ops.Shapes;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class EngineTest {

    @Test
    void aVarUsedTwiceReceivesTheSumOfBothGradients() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var x = g.leaf(Tensor.of(arena, new float[] {1, 2, 3}, 3));
            Var loss = Reductions.sum(Shapes.concat(0, x, Activations.silu(x), x));
            loss.backward();
            float[] grad = x.grad().toFloatArray();
            for (int i = 0; i < 3; i++) {
                double v = i + 1, s = 1 / (1 + Math.exp(-v));
                assertEquals(2 + s * (1 + v * (1 - s)), grad[i], 1e-6, "d/dx of 2x + silu(x) at " + v);
            }
        }
    }

    @Test
    void parametersAccumulateAcrossBackwardPassesUntilZeroed() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            Parameter w = new Parameter("w", Tensor.of(arena, new float[] {0.5f, -1f}, 1, 2), true);
            for (int pass = 1; pass <= 2; pass++) {
                try (Graph g = Graph.withGrad(pool)) {
                    Var x = g.constant(Tensor.of(arena, new float[] {3, 4}, 1, 2));
                    Reductions.sum(MatMul.linear(x, w)).backward();
                }
                assertArrayEquals(new float[] {3 * pass, 4 * pass}, w.grad().toFloatArray(), "after pass " + pass);
            }
            w.zeroGrad();
            assertArrayEquals(new float[] {0, 0}, w.grad().toFloatArray());
        }
    }

    @Test
    void everyBufferReturnsToThePoolAndStepsReuseThem() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            Parameter w = new Parameter("w", Tensor.of(arena, new float[64 * 64], 64, 64), true);
            long reservedAfterFirst = 0;
            for (int step = 0; step < 3; step++) {
                try (Graph g = Graph.withGrad(pool)) {
                    Var h = g.constant(Tensor.zeros(arena, DType.F32, 16, 64));
                    for (int layer = 0; layer < 4; layer++) h = Activations.silu(MatMul.linear(h, w));
                    Reductions.mean(h).backward();
                }
                assertEquals(0, pool.bytesInUse(), "bytes still in use after step " + step);
                if (step == 0) reservedAfterFirst = pool.bytesReserved();
                else assertEquals(reservedAfterFirst, pool.bytesReserved(), "a later step allocated new memory");
            }
        }
    }

    @Test
    void backwardReleasesActivationsEarlySoThePeakStaysBelowKeepingThemAll() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            Parameter w = new Parameter("w", Tensor.zeros(arena, DType.F32, 128, 128), true);
            try (Graph g = Graph.withGrad(pool)) {
                Var h = g.constant(Tensor.zeros(arena, DType.F32, 64, 128));
                for (int layer = 0; layer < 8; layer++) h = Activations.silu(MatMul.linear(h, w));
                Var loss = Reductions.mean(h);
                long forwardBytes = pool.bytesInUse();
                pool.resetPeak();
                loss.backward();
                // Without early release the backward would add a gradient per activation on top of them all.
                assertTrue(pool.peakBytesInUse() < forwardBytes * 1.3,
                        "peak " + pool.peakBytesInUse() + " bytes during backward vs " + forwardBytes + " after forward");
            }
        }
    }

    @Test
    void aReleasedValueIsAClearErrorUnlessRetained() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var x = g.leaf(Tensor.of(arena, new float[] {1, -2}, 2));
            Var hidden = Activations.silu(x);
            Var kept = Activations.silu(hidden).retain();
            Reductions.sum(kept).backward();
            IllegalStateException e = assertThrows(IllegalStateException.class, hidden::value);
            assertTrue(e.getMessage().contains("retain()"), e.getMessage());
            assertEquals(2, kept.value().size());
            assertTrue(kept.grad() != null, "a retained var keeps its gradient");
        }
    }

    @Test
    void aNoGradGraphRecordsNothing() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared()) {
            Parameter w = new Parameter("w", Tensor.of(arena, new float[] {1, 2}, 1, 2), true);
            try (Graph g = Graph.noGrad(pool)) {
                Var y = MatMul.linear(g.constant(Tensor.of(arena, new float[] {1, 1}, 1, 2)), w);
                assertFalse(y.requiresGrad());
                assertEquals(3f, y.value().getFlat(0));
                assertThrows(IllegalStateException.class, () -> Reductions.sum(y).backward());
            }
            assertNull(w.grad());
        }
    }

    @Test
    void frozenParametersGetNoGradient() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Parameter frozen = new Parameter("frozen", Tensor.of(arena, new float[] {1, 2}, 1, 2), false);
            Var x = g.leaf(Tensor.of(arena, new float[] {3, 4}, 1, 2));
            Reductions.sum(MatMul.linear(x, frozen)).backward();
            assertNull(frozen.grad());
            assertArrayEquals(new float[] {1, 2}, x.grad().toFloatArray());
        }
    }

    @Test
    void aDeepChainDoesNotOverflowTheStack() {
        try (BufferPool pool = new BufferPool(); Arena arena = Arena.ofShared(); Graph g = Graph.withGrad(pool)) {
            Var x = g.leaf(Tensor.of(arena, new float[] {0.1f}, 1));
            Var h = x;
            for (int i = 0; i < 20_000; i++) h = Shapes.reshape(h, 1);
            Reductions.sum(h).backward();
            assertEquals(1f, x.grad().getFlat(0));
        }
    }

    @Test
    void trainableParametersMustBeF32() {
        try (Arena arena = Arena.ofShared()) {
            Tensor bf16 = Tensor.zeros(arena, DType.BF16, 2, 2);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Parameter("model.w", bf16, true));
            assertTrue(e.getMessage().contains("model.w") && e.getMessage().contains("BF16"), e.getMessage());
        }
    }
}
