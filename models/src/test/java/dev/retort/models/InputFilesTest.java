package dev.retort.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.retort.models.hf.LlamaConfig;
import dev.retort.models.hf.ModelFileException;
import dev.retort.models.tokenizer.TokenizerFileException;
import dev.retort.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Files read whole are regular and bounded: a device, a pipe or an oversized file is one line, never an OOM or a hang. */
class InputFilesTest {
    @TempDir
    Path dir;

    private static final InputFiles.Refusal<IllegalArgumentException> REFUSE = (f, p) -> new IllegalArgumentException(f + ": " + p);

    @Test
    void readsARegularFileWithinTheBound() {
        Path file = write("ok.txt", "héllo");
        assertArrayEquals("héllo".getBytes(java.nio.charset.StandardCharsets.UTF_8), InputFiles.readBytes(file, 6, REFUSE));
        assertEquals("héllo", InputFiles.readUtf8(file, 6, REFUSE));
    }

    @Test
    void aFileOverTheBoundIsRefusedWithItsSize() {
        Path file = write("big.txt", "x".repeat(3 << 20));
        assertEquals(file + ": is 3145728 bytes, more than the 2 MiB Retort reads for this kind of file",
                assertThrows(IllegalArgumentException.class, () -> InputFiles.readBytes(file, 2 << 20, REFUSE)).getMessage());
    }

    @Test
    void aLinkToDevZeroIsRefusedBeforeReading() throws IOException {
        Path link = Files.createSymbolicLink(dir.resolve("zero.json"), Path.of("/dev/zero"));
        assertEquals(link + ": is not a regular file (a device, pipe or socket); expected a file",
                assertThrows(IllegalArgumentException.class, () -> InputFiles.readBytes(link, 1 << 20, REFUSE)).getMessage());
    }

    @Test
    void missingFilesAndDirectoriesAreNamed() {
        assertEquals(dir.resolve("none") + ": file not found",
                assertThrows(IllegalArgumentException.class, () -> InputFiles.readBytes(dir.resolve("none"), 1, REFUSE)).getMessage());
        assertEquals(dir + ": is not a regular file (a directory); expected a file",
                assertThrows(IllegalArgumentException.class, () -> InputFiles.readBytes(dir, 1, REFUSE)).getMessage());
    }

    @Test
    void textThatIsNotUtf8IsRefused() throws IOException {
        Path file = dir.resolve("latin1.txt");
        Files.write(file, new byte[] {'c', 'a', 'f', (byte) 0xe9});
        assertEquals(file + ": is not UTF-8 text; convert it to UTF-8 first",
                assertThrows(IllegalArgumentException.class, () -> InputFiles.readUtf8(file, 10, REFUSE)).getMessage());
    }

    /** A FIFO would block a plain read until something writes to it; every model-directory loader refuses it. */
    @Test
    @Timeout(value = 20, unit = TimeUnit.SECONDS)
    void fifosInAModelDirectoryAreRefusedWithoutHanging() throws Exception {
        Path config = fifo("config.json");
        assertEquals(config + ": is not a regular file (a device, pipe or socket); expected a file",
                assertThrows(ModelFileException.class, () -> LlamaConfig.read(dir)).getMessage());
        Path tokenizer = fifo("tokenizer.json");
        assertEquals(tokenizer + ": is not a regular file (a device, pipe or socket); expected a file",
                assertThrows(TokenizerFileException.class, () -> Tokenizers.load(dir)).getMessage());
        Path weights = fifo("model.safetensors");
        assertEquals(weights + ": is not a regular file (a device, pipe or socket); expected a file",
                assertThrows(ModelFileException.class, () -> dev.retort.models.hf.SafetensorsFile.open(weights)).getMessage());
    }

    private Path fifo(String name) throws Exception {
        Path path = dir.resolve(name);
        Process p = new ProcessBuilder("mkfifo", path.toString()).inheritIO().start();
        assertEquals(0, p.waitFor(), "mkfifo " + path);
        return path;
    }

    private Path write(String name, String text) {
        try {
            return Files.writeString(dir.resolve(name), text);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
