package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.retort.tensor.DType;
import dev.retort.tensor.Half;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every F16 and BF16 bit pattern (±0, subnormals, normals, ±Inf, NaNs) widened through each path that widens
 * half weights — GEMM panels in both weight layouts and matvec — on every implementation: the value is exactly
 * {@link Half}'s (NaN stays NaN, Inf stays Inf, subnormals exact). Multiplying by 1 leaves each value as it is
 * (up to the sign of a zero, which an accumulator starting at +0 may drop).
 */
class HalfWideningTest {
    static List<Kernels> implementations() {
        return ElementwiseTesting.implementations();
    }

    private static final int N = 1 << 16;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    static void check(String what, DType type, MemorySegment out) {
        for (int bits = 0; bits < N; bits++) {
            float expected = type == DType.F16 ? Half.f16ToFloat((short) bits) : Half.bf16ToFloat((short) bits);
            float got = out.getAtIndex(F32, bits);
            if (Float.isNaN(expected) && type == DType.F16) {   // quiet, with sign and payload
                assertEquals(Integer.toHexString(Float.floatToRawIntBits(expected)), Integer.toHexString(Float.floatToRawIntBits(got)),
                        what + ": NaN pattern 0x" + Integer.toHexString(bits));
            } else if (Float.isNaN(expected)) {
                assertTrue(Float.isNaN(got), what + ": pattern 0x" + Integer.toHexString(bits) + " gave " + got + ", expected NaN");
            } else if (expected == 0) {
                assertEquals(0f, Math.abs(got), what + ": pattern 0x" + Integer.toHexString(bits));
            } else {
                assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(got),
                        what + ": pattern 0x" + Integer.toHexString(bits) + " gave " + got + ", expected " + expected);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("implementations")
    void everyHalfPatternWidensExactlyInGemmAndMatvec(Kernels k) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = arena.allocate(4, 64);
            one.setAtIndex(F32, 0, 1f);
            for (DType type : new DType[] {DType.F16, DType.BF16}) {
                MemorySegment w = arena.allocate(2L * N, 64);
                for (int bits = 0; bits < N; bits++) w.setAtIndex(I16, bits, (short) bits);
                MemorySegment out = arena.allocate(4L * N, 64);
                // C[1 × N] = [1] · W[1 × N]  (weights as the A·B operand)
                k.gemm().gemm(Gemm.Layout.AB, 1, N, 1, 1f, one, 0, 1, w, 0, N, type, 0f, out, 0, N);
                check(k + " " + type + " gemm A·B", type, out);
                // C[1 × N] = [1] · W[N × 1]ᵀ  (weights [out × in], the forward layout)
                k.gemm().gemm(Gemm.Layout.ABT, 1, N, 1, 1f, one, 0, 1, w, 0, 1, type, 0f, out, 0, N);
                check(k + " " + type + " gemm A·Bᵀ", type, out);
                // y[N] = W[N × 1] · [1]
                k.gemm().matvec(N, 1, w, 0, 1, type, one, 0, out, 0);
                check(k + " " + type + " matvec", type, out);
            }
        }
    }
}
