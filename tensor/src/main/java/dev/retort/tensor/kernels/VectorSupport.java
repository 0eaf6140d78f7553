package dev.retort.tensor.kernels;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Whether the Vector API will be fast here. Users of other Java LLM engines silently ran ten times slower when
 * the incubator module was missing, the JIT was limited, or the JVM chose a narrower species than the CPU has;
 * Retort says so loudly at start-up instead.
 */
public final class VectorSupport {
    private VectorSupport() {}

    /** What was found: module present, preferred and hardware widths (0 = unknown), and a warning if any. */
    public record Report(boolean vectorModulePresent, int preferredBits, int hardwareBits, Optional<String> warning) {}

    private static volatile Report cached;

    public static Report inspect() {
        Report r = cached;
        if (r == null) cached = r = build();
        return r;
    }

    private static Report build() {
        boolean present = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
        int hardware = hardwareVectorBits();
        if (!present) {
            return new Report(false, 0, hardware, Optional.of(banner(
                    "the Vector API module jdk.incubator.vector is not loaded; running the scalar kernels, "
                            + "which are about 10x slower. Start the JVM with --add-modules jdk.incubator.vector "
                            + "(the ./retort launcher does).")));
        }
        int preferred = PreferredWidth.bits();
        String problem = null;
        if (hardware > 0 && preferred < hardware && System.getProperty("retort.vector.bits") == null) {
            problem = "the JVM's preferred vector width is " + preferred + " bits but this CPU has " + hardware
                    + "-bit vectors (is -XX:UseAVX or -XX:MaxVectorSize limiting it?); kernels will run slower.";
        }
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        for (String a : args) {
            if (a.equals("-Xint") || a.startsWith("-XX:TieredStopAtLevel=") && !a.endsWith("=4")) {
                problem = "the JVM runs with " + a + ", so the Vector API is not compiled to SIMD instructions "
                        + "and kernels will be very slow.";
            }
        }
        return new Report(true, preferred, hardware, Optional.ofNullable(problem).map(VectorSupport::banner));
    }

    private static String banner(String text) {
        return "WARNING: Retort: Vector API not accelerated: " + text;
    }

    /** The widest SIMD registers this CPU reports (Linux /proc/cpuinfo), or 0 when unknown. */
    static int hardwareVectorBits() {
        try {
            Path cpuinfo = Path.of("/proc/cpuinfo");
            if (!Files.isReadable(cpuinfo)) return 0;
            String flags = "";
            for (String line : Files.readAllLines(cpuinfo)) {
                String lower = line.toLowerCase(Locale.ROOT);
                if (lower.startsWith("flags") || lower.startsWith("features")) {
                    flags = " " + lower.substring(lower.indexOf(':') + 1) + " ";
                    break;
                }
            }
            if (flags.contains(" avx512f ")) return 512;
            if (flags.contains(" avx2 ") || flags.contains(" avx ")) return 256;
            if (flags.contains(" sse2 ") || flags.contains(" asimd ")) return 128;
            return 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Kept in its own class so that nothing touches jdk.incubator.vector unless the module is present. */
    private static final class PreferredWidth {
        static int bits() {
            return jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize();
        }
    }
}
