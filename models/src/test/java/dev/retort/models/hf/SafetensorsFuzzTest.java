package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mutates a valid file thousands of times (seeded, so a failure reproduces) and requires that opening it and
 * reading every tensor either works or throws {@link ModelFileException}: no other exception, no crash, no hang.
 */
class SafetensorsFuzzTest {
    private static final long SEED = 20_24_11_23L;
    private static final int ITERATIONS = 4000;
    private static final String[] JSON_TOKENS = {"{", "}", "[", "]", ",", ":", "\"", "-", "0", "9", "1e999", "-1",
            "null", "true", "\\u0000", "18446744073709551616", "\"__metadata__\"", "\"dtype\"", "\"F4\"", "\"I64\"", " "};

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void mutatedFilesEitherReadOrFailWithModelFileExceptionOnly() throws IOException {
        byte[] valid = validFile();
        Random random = new Random(SEED);
        int accepted = 0;
        int rejected = 0;
        for (int i = 0; i < ITERATIONS; i++) {
            String[] mutation = new String[1];
            byte[] bytes = mutate(valid, random, mutation);
            // A fresh file each time: rewriting one that was just mapped is slow on some file systems.
            Path file = dir.resolve("fuzz-" + i + ".safetensors");
            Files.write(file, bytes);
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile weights = SafetensorsFile.open(file, arena);
                readEverything(weights);
                accepted++;
            } catch (ModelFileException expected) {
                rejected++;
            } catch (Throwable t) {
                fail("iteration " + i + " (seed " + SEED + ", " + mutation[0] + ") threw " + t
                        + " instead of ModelFileException; header was: " + headerPreview(bytes), t);
            }
            Files.delete(file);
        }
        // Both outcomes must occur, or the mutations are not exercising the reader.
        assertTrue(accepted > 50 && rejected > ITERATIONS / 2, "accepted " + accepted + ", rejected " + rejected);
    }

    /** Touches every byte of every tensor, and every element of those Retort computes with. */
    private static void readEverything(SafetensorsFile weights) {
        for (String name : weights.names()) {
            TensorInfo info = weights.info(name);
            MemorySegment bytes = weights.bytes(name);
            long sum = 0;
            for (long b = 0; b < bytes.byteSize(); b++) sum += bytes.get(ValueLayout.JAVA_BYTE, b);
            if (info.dtype().retortType() != null) {
                Tensor t = weights.tensor(name);
                for (long e = 0; e < t.size(); e++) sum += (long) t.getFlat(e);
            }
            if (sum == Long.MIN_VALUE) throw new AssertionError("unreachable; keeps the reads alive");
        }
    }

    private static byte[] mutate(byte[] valid, Random random, String[] description) {
        int headerEnd = 8 + (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] b = valid.clone();
        switch (random.nextInt(8)) {
            case 0 -> {
                int length = random.nextInt(b.length);
                description[0] = "truncated to " + length + " bytes";
                return Arrays.copyOf(b, length);
            }
            case 1 -> {
                int n = 1 + random.nextInt(4);
                description[0] = n + " random bytes anywhere";
                for (int k = 0; k < n; k++) b[random.nextInt(b.length)] = (byte) random.nextInt(256);
            }
            case 2 -> {
                int n = 1 + random.nextInt(3);
                description[0] = n + " random bytes in the header";
                for (int k = 0; k < n; k++) b[8 + random.nextInt(headerEnd - 8)] = (byte) random.nextInt(256);
            }
            case 3 -> {
                description[0] = "a digit of the header changed";
                int at = randomDigit(b, headerEnd, random);
                if (at >= 0) b[at] = (byte) ('0' + random.nextInt(10));
            }
            case 4 -> {
                description[0] = "the length prefix changed";
                long length = switch (random.nextInt(3)) {
                    case 0 -> random.nextLong();
                    case 1 -> headerEnd - 8 + random.nextInt(33) - 16;
                    default -> b.length - 8 + random.nextInt(5) - 2;
                };
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
            }
            case 5 -> {
                String token = JSON_TOKENS[random.nextInt(JSON_TOKENS.length)];
                int at = 8 + random.nextInt(headerEnd - 8);
                description[0] = "token " + token + " spliced in at " + at;
                return splice(b, at, token.getBytes(StandardCharsets.UTF_8), headerEnd);
            }
            case 6 -> {
                int n = 1 + random.nextInt(16);
                description[0] = n + " bytes appended";
                b = Arrays.copyOf(b, b.length + n);
            }
            default -> {
                description[0] = "a digit of the header removed";
                int at = randomDigit(b, headerEnd, random);
                if (at >= 0) return splice(b, at, new byte[0], headerEnd, 1);
            }
        }
        return b;
    }

    /** Inserts {@code insert} at {@code at} inside the header and fixes the length prefix to match. */
    private static byte[] splice(byte[] b, int at, byte[] insert, int headerEnd) {
        return splice(b, at, insert, headerEnd, 0);
    }

    private static byte[] splice(byte[] b, int at, byte[] insert, int headerEnd, int remove) {
        byte[] out = new byte[b.length + insert.length - remove];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(insert, 0, out, at, insert.length);
        System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, headerEnd - 8 + insert.length - remove);
        return out;
    }

    private static int randomDigit(byte[] b, int headerEnd, Random random) {
        int start = 8 + random.nextInt(headerEnd - 8);
        for (int k = 0; k < headerEnd - 8; k++) {
            int at = 8 + (start - 8 + k) % (headerEnd - 8);
            if (b[at] >= '0' && b[at] <= '9') return at;
        }
        return -1;
    }

    private byte[] validFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            tensors.put("embed", Tensor.of(arena, DType.BF16, new float[] {1, 2, 3, 4, 5, 6}, 3, 2));
            tensors.put("norm", Tensor.of(arena, new float[] {0.5f, -0.5f, 2}, 3));
            tensors.put("half", Tensor.of(arena, DType.F16, new float[] {1, -1}, 2, 1));
            tensors.put("quant", Tensor.of(arena, DType.I8, new float[] {1, -2, 3}, 3));
            tensors.put("scalar", Tensor.of(arena, new float[] {9}));
            tensors.put("empty", Tensor.zeros(arena, DType.F32, 0, 4));
            Path file = dir.resolve("valid.safetensors");
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
            return Files.readAllBytes(file);
        }
    }

    private static String headerPreview(byte[] bytes) {
        int end = Math.min(bytes.length, 400);
        return bytes.length < 8 ? Arrays.toString(bytes) : new String(bytes, 8, Math.max(0, end - 8), StandardCharsets.ISO_8859_1);
    }
}
