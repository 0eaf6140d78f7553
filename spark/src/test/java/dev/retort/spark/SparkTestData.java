package dev.retort.spark;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** The teacher (stories260K, from the shared assets) and a small corpus in its style, for the Spark tests. */
final class SparkTestData {
    static final Path STORIES = Path.of(System.getProperty("retort.root", ".")).resolve("../shared/assets/stories260K");

    private SparkTestData() {}

    static void requireTeacher() {
        Assumptions.assumeTrue(Files.isDirectory(STORIES), "shared assets not found at " + STORIES + ": skipped");
    }

    /** Twelve story openings, one prompt a line, for generate-data. */
    static Path writePrompts(Path file) throws IOException {
        StringBuilder text = new StringBuilder();
        String[] names = {"Lily", "Tom", "Sue", "Ben"};
        String[] starts = {"Once upon a time, ", "One day, ", "The sun was warm and "};
        for (int i = 0; i < 12; i++) text.append(starts[i % 3]).append(names[i % 4]).append(i % 2 == 0 ? " saw a" : " went to the").append('\n');
        Files.writeString(file, text);
        return file;
    }

    /** Sixty short stories: about 90 rows of 32 tokens, two dozen teacher passes of 4. */
    static Path writeStories(Path file) throws IOException {
        StringBuilder text = new StringBuilder();
        String[] names = {"Lily", "Tom", "Sue", "Ben", "Max", "Mia"};
        String[] things = {"ball", "cat", "tree", "cake", "dog", "boat"};
        for (int i = 0; i < 60; i++) {
            text.append("Once upon a time, there was a little girl named ").append(names[i % 6]).append(". She loved her ")
                    .append(things[(i * 7) % 6]).append(". One day, she went to the park and saw a big ").append(things[(i * 5) % 6])
                    .append(". She was very happy.\n\n");
        }
        Files.writeString(file, text);
        return file;
    }
}
