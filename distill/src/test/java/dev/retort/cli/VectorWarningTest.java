package dev.retort.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A JVM started without the Vector API module: Retort must say so loudly on standard error and still work, on
 * the scalar kernels.
 */
class VectorWarningTest {

    @Test
    void withoutTheVectorModuleItWarnsAndFallsBackToScalarKernels() throws Exception {
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(List.of(java.toString(), "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), "dev.retort.cli.Retort",
                "bench", "gemm", "--shape", "16x8x12", "--repetitions", "1", "--threads", "1")).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the child JVM finished");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), err);
        assertTrue(err.contains("WARNING: Retort: Vector API not accelerated") && err.contains("--add-modules jdk.incubator.vector"), err);
        assertTrue(out.contains("kernels=scalar"), out);
        assertTrue(out.strip().lines().reduce((a, b) -> b).orElse("").matches("\\d+(\\.\\d+)? GFLOP/s"), out);
    }
}
