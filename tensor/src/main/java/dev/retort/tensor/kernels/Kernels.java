package dev.retort.tensor.kernels;

import dev.retort.tensor.kernels.scalar.ScalarAttention;
import dev.retort.tensor.kernels.scalar.ScalarElementwise;
import dev.retort.tensor.kernels.scalar.ScalarGemm;
import java.util.ArrayList;
import java.util.List;

/**
 * The seam between what the model computes and how: one set of kernels, picked once at start-up, that every
 * op calls. Implementations:
 * <ul>
 *   <li>the SIMD kernels in {@code kernels.simd}, written once with {@code jdk.incubator.vector} against a
 *       species chosen when their classes initialise (the hardware's preferred width by default);
 *   <li>a plain-Java scalar fallback for JVMs without the Vector API.
 * </ul>
 * Tests and benchmarks can ask for the SIMD kernels at any width: {@link #vector(int)} loads a private copy of
 * the SIMD classes in which the width is a constant, so the JIT compiles each width as if it were the only one
 * (see {@link WidthClassLoader}). The 128-bit path that ARM boards run is thus tested on an x86 machine too.
 */
public final class Kernels {
    private static final String SIMD_FACTORY = "dev.retort.tensor.kernels.simd.SimdKernels";
    private static volatile Kernels selected;

    private final String name;
    private final int vectorBits;
    private final Gemm gemm;
    private final Elementwise elementwise;
    private final Attention attention;

    public Kernels(String name, int vectorBits, Gemm gemm, Elementwise elementwise, Attention attention) {
        this.name = name;
        this.vectorBits = vectorBits;
        this.gemm = gemm;
        this.elementwise = elementwise;
        this.attention = attention;
    }

    public String name() { return name; }
    /** Vector width in bits, or 0 for the scalar fallback. */
    public int vectorBits() { return vectorBits; }
    public Gemm gemm() { return gemm; }
    public Elementwise elementwise() { return elementwise; }
    public Attention attention() { return attention; }

    @Override
    public String toString() { return name; }

    /**
     * The kernels this process uses: SIMD at the preferred width (or {@code -Dretort.vector.bits=N}), or the
     * scalar fallback when the Vector API is missing or {@code -Dretort.kernels=scalar}. Prints a warning to
     * standard error once if the Vector API is not accelerated.
     */
    public static Kernels get() {
        Kernels k = selected;
        if (k == null) {
            synchronized (Kernels.class) {
                k = selected;
                if (k == null) selected = k = select();
            }
        }
        return k;
    }

    private static Kernels select() {
        VectorSupport.Report report = VectorSupport.inspect();
        report.warning().ifPresent(w -> System.err.println(w));
        if ("scalar".equals(System.getProperty("retort.kernels")) || !report.vectorModulePresent()) {
            return scalar();
        }
        return loadSimd(Kernels.class.getClassLoader());
    }

    /** The plain-Java kernels: the fallback without the Vector API. */
    public static Kernels scalar() {
        return new Kernels("scalar", 0, new ScalarGemm(), new ScalarElementwise(), new ScalarAttention());
    }

    /** A private copy of the SIMD kernels compiled for {@code bits}-bit vectors (64, 128, 256 or 512). */
    public static Kernels vector(int bits) {
        if (bits != 64 && bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException("vector width must be 64, 128, 256 or 512 bits, got " + bits);
        }
        if (!VectorSupport.inspect().vectorModulePresent()) {
            throw new IllegalStateException("the Vector API (jdk.incubator.vector) is not in this JVM; run with --add-modules jdk.incubator.vector");
        }
        return loadSimd(new WidthClassLoader(bits, Kernels.class.getClassLoader()));
    }

    /** Every implementation a test should run: the scalar fallback and SIMD at each width. */
    public static List<Kernels> allImplementations() {
        List<Kernels> all = new ArrayList<>();
        all.add(scalar());
        if (VectorSupport.inspect().vectorModulePresent()) {
            for (int bits : new int[] {64, 128, 256, 512}) all.add(vector(bits));
        }
        return all;
    }

    private static Kernels loadSimd(ClassLoader loader) {
        try {
            Class<?> factory = Class.forName(SIMD_FACTORY, true, loader);
            return (Kernels) factory.getMethod("create").invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot load the SIMD kernels: " + e, e);
        }
    }
}
