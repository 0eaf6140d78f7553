package dev.retort.models.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared test assets folder ({@code ../shared/assets} beside the project root). A user's clone has no
 * such folder, so tests that need it are skipped, saying where it was looked for.
 */
final class SharedAssets {

    private SharedAssets() {}

    static Path root() {
        Path root = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets").toAbsolutePath()
                .normalize();
        assumeTrue(Files.isDirectory(root), "shared test assets not found at " + root + "; skipping");
        return root;
    }

    /** A file or folder in the assets; skips the test when it is absent. */
    static Path resolve(String relative) {
        Path path = root().resolve(relative);
        assumeTrue(Files.exists(path), "shared test asset not found at " + path + "; skipping");
        return path;
    }
}
