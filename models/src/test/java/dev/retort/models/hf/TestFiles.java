package dev.retort.models.hf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Builders for hand-made safetensors bytes and access to the golden files under test resources. */
final class TestFiles {
    private TestFiles() {}

    /** An 8-byte little-endian {@code headerLength}, the header text, then {@code data}. */
    static byte[] safetensors(long headerLength, String header, byte[] data) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(headerLength).put(json).put(data).array();
    }

    /** A well-formed file: the header's true length, then {@code dataBytes} zero bytes. */
    static byte[] safetensors(String header, int dataBytes) {
        return safetensors(header.getBytes(StandardCharsets.UTF_8).length, header, new byte[dataBytes]);
    }

    static Path write(Path file, byte[] bytes) {
        try {
            return Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A golden file from src/test/resources/dev/retort/models/hf, copied to {@code dir} (mapping needs a real file). */
    static Path golden(String name, Path dir) {
        try (InputStream in = TestFiles.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing test resource " + name);
            Path file = dir.resolve(name);
            Files.write(file, in.readAllBytes());
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String goldenText(String name) {
        try (InputStream in = TestFiles.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing test resource " + name);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] goldenBytes(String name) {
        try (InputStream in = TestFiles.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing test resource " + name);
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
