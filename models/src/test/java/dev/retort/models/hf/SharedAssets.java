package dev.retort.models.hf;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** The shared test assets (../shared/assets beside the project root); tests using them skip when it is absent. */
final class SharedAssets {
    private SharedAssets() {}

    static Path root() {
        return Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets").normalize();
    }

    /** The asset at {@code relative}, or a skipped test naming the path when it is not there. */
    static Path require(String relative) {
        Path path = root().resolve(relative);
        assumeTrue(Files.exists(path), "shared test asset " + path.toAbsolutePath() + " is absent; skipping");
        return path;
    }
}
