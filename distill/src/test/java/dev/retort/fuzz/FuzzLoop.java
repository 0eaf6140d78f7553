package dev.retort.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.BiFunction;

/**
 * The loop every loader's fuzz runs: write a mutant, load it, and require either a clean load or the loader's
 * one documented exception with a one-line message naming the file. Anything else fails the test with the
 * seed, the case and the mutation, so that it reproduces. {@code -Dretort.fuzz.iterations=N} runs N cases per
 * loader instead of the suite's default.
 */
final class FuzzLoop {
    /** Loads a file and uses everything it loaded. */
    @FunctionalInterface
    interface Load {
        void load(Path file) throws Exception;
    }

    private FuzzLoop() {}

    static int iterations(int normal) {
        return Integer.getInteger("retort.fuzz.iterations", normal);
    }

    /**
     * Runs {@code cases} mutants of {@code valid} through {@code load}, each written to a fresh file named like
     * {@code name} in {@code dir}.
     */
    static void run(String name, long seed, int cases, byte[] valid, Path dir, Class<? extends Exception> documented,
                    BiFunction<byte[], Random, Mutations.Mutant> mutator, Load load) throws Exception {
        Random random = new Random(seed);
        int accepted = 0;
        int refused = 0;
        for (int i = 0; i < cases; i++) {
            Mutations.Mutant mutant = mutator.apply(valid, random);
            // A fresh file each time: rewriting one that was just mapped is slow on some file systems.
            Path file = dir.resolve(i + "-" + name);
            Files.write(file, mutant.bytes());
            String where = name + " case " + i + " (seed " + seed + ", " + mutant.how() + ")";
            try {
                load.load(file);
                accepted++;
            } catch (Exception e) {
                if (!documented.isInstance(e)) fail(where + " threw " + e + " instead of " + documented.getSimpleName(), e);
                String message = String.valueOf(e.getMessage());
                if (!message.contains(file.toString()) || message.contains("\n") || message.contains("\r")) {
                    fail(where + ": the message should be one line naming " + file + ", was: " + message, e);
                }
                refused++;
            } catch (Throwable t) {
                fail(where + " threw " + t, t);
            }
            Files.deleteIfExists(file);
        }
        // Both outcomes must occur, or the mutations are not exercising the loader.
        assertTrue(accepted > 0 && refused > cases / 10, name + ": accepted " + accepted + ", refused " + refused);
    }
}
