package dev.retort.tensor.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KernelsTest {

    @ParameterizedTest
    @ValueSource(ints = {64, 128, 256, 512})
    void eachWidthLoadsItsOwnCopyOfTheSimdPackage(int bits) {
        Kernels kernels = Kernels.vector(bits);
        assertEquals(bits, kernels.vectorBits(), "width the SIMD copy compiled for");
        assertEquals("simd" + bits, kernels.name());
        ClassLoader loader = kernels.gemm().getClass().getClassLoader();
        WidthClassLoader widthLoader = assertInstanceOf(WidthClassLoader.class, loader);
        assertEquals(bits, widthLoader.bits());
        // The interfaces come from the parent: the copies are usable wherever Kernels is expected.
        assertTrue(Gemm.class.isInstance(kernels.gemm()));
        assertEquals(Kernels.class.getClassLoader(), Gemm.class.getClassLoader());
    }

    @Test
    void twoWidthsAreDistinctClasses() {
        Kernels narrow = Kernels.vector(128);
        Kernels wide = Kernels.vector(512);
        assertNotSame(narrow.elementwise().getClass(), wide.elementwise().getClass());
        assertEquals(narrow.elementwise().getClass().getName(), wide.elementwise().getClass().getName());
    }

    @Test
    void allImplementationsCoverScalarAndEveryWidth() {
        List<Kernels> all = Kernels.allImplementations();
        assertEquals(List.of(0, 64, 128, 256, 512), all.stream().map(Kernels::vectorBits).toList());
    }

    @Test
    void theSelectedKernelsUseTheVectorApiAtThePreferredWidth() {
        Kernels selected = Kernels.get();
        VectorSupport.Report report = VectorSupport.inspect();
        assertTrue(report.vectorModulePresent(), "tests run with --add-modules jdk.incubator.vector");
        assertEquals(report.preferredBits(), selected.vectorBits());
    }

    @Test
    void anUnsupportedWidthIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Kernels.vector(96));
        assertTrue(e.getMessage().contains("96"), e.getMessage());
    }
}
