package dev.retort.tensor.kernels;

import java.io.IOException;
import java.io.InputStream;

/**
 * Loads a private copy of the SIMD kernel package ({@code dev.retort.tensor.kernels.simd}) in which the vector
 * width is {@link #bits}. Everything outside that package comes from the parent, so the copies share the
 * {@link Kernels} interfaces and tensors with the rest of the program.
 *
 * <p>Why a class loader: the Vector API is only fast when the species is a compile-time constant to the JIT
 * (a {@code static final}). Writing each kernel four times would be unreadable; loading the same bytecode four
 * times, each copy with its own constant, gives four specialised compilations of one source.
 */
public final class WidthClassLoader extends ClassLoader {
    static final String SIMD_PACKAGE = "dev.retort.tensor.kernels.simd";

    private final int bits;

    WidthClassLoader(int bits, ClassLoader parent) {
        super("retort-simd-" + bits, parent);
        this.bits = bits;
    }

    /** The vector width the SIMD classes loaded here compile for. */
    public int bits() {
        return bits;
    }

    @Override
    protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
        if (!name.startsWith(SIMD_PACKAGE + ".")) return super.loadClass(name, resolve);
        synchronized (getClassLoadingLock(name)) {
            Class<?> c = findLoadedClass(name);
            if (c == null) {
                String resource = name.replace('.', '/') + ".class";
                try (InputStream in = getParent().getResourceAsStream(resource)) {
                    if (in == null) throw new ClassNotFoundException(name);
                    byte[] bytes = in.readAllBytes();
                    c = defineClass(name, bytes, 0, bytes.length, Kernels.class.getProtectionDomain());
                } catch (IOException e) {
                    throw new ClassNotFoundException(name, e);
                }
            }
            if (resolve) resolveClass(c);
            return c;
        }
    }
}
