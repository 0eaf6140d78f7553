package dev.retort.models.hf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** One hostile file per validation rule: each must fail with a one-line message naming the file and the problem. */
class SafetensorsHostileFilesTest {
    @TempDir
    Path dir;

    /**
     * @param rule    what the file breaks
     * @param bytes   the whole file
     * @param problem the expected message after "file: ", or its start when it ends with "…"
     */
    record Case(String rule, byte[] bytes, String problem) {
        @Override
        public String toString() {
            return rule;
        }
    }

    private static Case valid(String rule, String header, int dataBytes, String problem) {
        return new Case(rule, TestFiles.safetensors(header, dataBytes), problem);
    }

    private static String f32(String name, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("empty file", new byte[0], "file is 0 bytes, shorter than the 8-byte header length"),
                new Case("file shorter than 8 bytes", new byte[] {2, 0, 0}, "file is 3 bytes, shorter than the 8-byte header length"),
                new Case("header length past the end of the file", TestFiles.safetensors(100, "{}", new byte[0]),
                        "header length 100 runs past the end of the file (10 bytes)"),
                new Case("header length with the top bit set", TestFiles.safetensors(-1L, "{}", new byte[0]),
                        "header length 18446744073709551615 exceeds the 100000000-byte limit"),
                new Case("header length over the 100 MB limit", TestFiles.safetensors(100_000_001L, "{}", new byte[0]),
                        "header length 100000001 exceeds the 100000000-byte limit"),
                new Case("header not UTF-8", notUtf8(), "header is not valid UTF-8"),
                valid("empty header", "", 0, "header is empty"),
                valid("header not JSON", "{\"a\":", 0, "header is not valid JSON: …"),
                valid("trailing content after the header object", "{} {}", 0, "header is not valid JSON: …"),
                valid("duplicate tensor name", "{" + f32("a", "[1]", 0, 4) + "," + f32("a", "[1]", 0, 4) + "}", 4,
                        "header is not valid JSON: Duplicate field 'a' (line 1, column 58)"),
                valid("nesting deep enough to overflow a recursive parser",
                        "{\"__metadata__\":" + "[".repeat(100_000) + "]".repeat(100_000) + "}", 0, "header is not valid JSON: …"),
                valid("header an array", "[1,2]", 0, "header must be a JSON object but is an array"),
                valid("tensor entry not an object", "{\"a\":5}", 0, "tensor 'a' must be a JSON object but is the number 5"),
                valid("missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a' is missing field dtype"),
                valid("dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                        "tensor 'a' dtype must be a string but is the number 4"),
                valid("unknown dtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                        "tensor 'a' has unknown dtype 'F128' (known: …"),
                valid("lower-case dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                        "tensor 'a' has unknown dtype 'f32' (known: …"),
                valid("missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a' is missing field shape"),
                valid("shape not an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4,
                        "tensor 'a' shape must be a JSON array but is the number 4"),
                valid("negative dimension", "{" + f32("a", "[-1]", 0, 4) + "}", 4, "tensor 'a' has negative dimension -1 in its shape"),
                valid("fractional dimension", "{" + f32("a", "[1.5]", 0, 4) + "}", 4,
                        "tensor 'a' shape has the number 1.5 where a dimension belongs"),
                valid("dimension beyond 2^31-1", "{" + f32("a", "[3000000000]", 0, 4) + "}", 4,
                        "tensor 'a' has dimension 3000000000, larger than Retort supports (2^31-1)"),
                valid("shape whose byte size overflows", "{" + f32("a", "[2147483647,2147483647,2147483647]", 0, 4) + "}", 4,
                        "tensor 'a' shape [2147483647, 2147483647, 2147483647] F32 overflows 64-bit sizes"),
                valid("sub-byte dtype not filling whole bytes",
                        "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2,
                        "tensor 'a' shape [3] F4 does not fill a whole number of bytes"),
                valid("missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a' is missing field data_offsets"),
                valid("data_offsets of one number", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4,
                        "tensor 'a' data_offsets must be [begin, end] but has 1 numbers"),
                valid("data offset not an integer", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4,
                        "tensor 'a' data_offsets has the string \"4\" where an offset belongs"),
                valid("negative data offset", "{" + f32("a", "[1]", -4, 0) + "}", 4, "tensor 'a' has negative data offset -4"),
                valid("data offset beyond 64 bits", "{" + f32("a", "[1]", 0, 0).replace("[0,0]", "[0,99999999999999999999]") + "}", 4,
                        "tensor 'a' has data offset 99999999999999999999 past the end of the data section (4 bytes)"),
                valid("data offsets past the end of the file", "{" + f32("a", "[4]", 0, 16) + "}", 8,
                        "tensor 'a' has data offset 16 past the end of the data section (8 bytes)"),
                valid("begin after end", "{" + f32("a", "[1]", 8, 4) + "}", 8,
                        "tensor 'a' has data_offsets [8, 4) with begin after end"),
                valid("shape and byte range disagree", "{" + f32("a", "[3]", 0, 8) + "}", 8,
                        "tensor 'a' has data_offsets [0, 8) (8 bytes) but shape [3] F32 needs 12 bytes"),
                valid("overlapping ranges", "{" + f32("a", "[2]", 0, 8) + "," + f32("b", "[2]", 4, 12) + "}", 12,
                        "tensor 'b' bytes [4, 12) overlap tensor 'a' bytes [0, 8)"),
                valid("two tensors on the same bytes", "{" + f32("a", "[1]", 0, 4) + "," + f32("b", "[1]", 0, 4) + "}", 4,
                        "tensor 'b' bytes [0, 4) overlap tensor 'a' bytes [0, 4)"),
                valid("hole between tensors", "{" + f32("a", "[1]", 0, 4) + "," + f32("b", "[1]", 8, 12) + "}", 12,
                        "data bytes [4, 8) before tensor 'b' belong to no tensor (the format allows no holes)"),
                valid("hole at the start", "{" + f32("a", "[1]", 4, 8) + "}", 8,
                        "data bytes [0, 4) before tensor 'a' belong to no tensor (the format allows no holes)"),
                valid("hole at the end", "{" + f32("a", "[1]", 0, 4) + "}", 8,
                        "data bytes [4, 8) at the end of the file belong to no tensor (the format allows no holes)"),
                valid("data but no tensors", "{}", 8,
                        "data bytes [0, 8) at the end of the file belong to no tensor (the format allows no holes)"),
                valid("metadata not an object", "{\"__metadata__\":[1]}", 0, "__metadata__ must be a JSON object but is an array"),
                valid("metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0,
                        "__metadata__.'k' must be a string but is the number 1"),
                valid("control characters in a name stay on one line", "{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", 0,
                        "tensor 'a\\u000ab' has unknown dtype 'X' (known: …"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void isRejectedWithAOneLineMessageNamingTheFileAndTheProblem(Case c) {
        Path file = TestFiles.write(dir.resolve("hostile.safetensors"), c.bytes());
        ModelFileException e = assertThrows(ModelFileException.class, () -> SafetensorsFile.open(file).close());
        assertEquals(file, e.file());
        String message = e.getMessage();
        assertFalse(message.contains("\n") || message.contains("\r"), "message must be one line: " + message);
        if (c.problem().endsWith("…")) {
            String start = file + ": " + c.problem().substring(0, c.problem().length() - 1);
            assertTrue(message.startsWith(start), "expected a message starting with <" + start + "> but was <" + message + ">");
        } else {
            assertEquals(file + ": " + c.problem(), message);
        }
    }

    /** An 8-byte header holding C3 28, a two-byte UTF-8 lead followed by a byte that cannot continue it. */
    private static byte[] notUtf8() {
        byte[] header = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        byte[] file = new byte[16];
        file[0] = 8;
        System.arraycopy(header, 0, file, 8, 8);
        return file;
    }

    // ---- what the format allows ---------------------------------------------------------------------------

    @Test
    void entriesMayBeListedInAnyOrderAsLongAsTheRangesTileTheData() {
        String header = "{" + f32("z.first", "[1]", 0, 4) + "," + f32("a.last", "[2]", 12, 20) + ","
                + f32("m.middle", "[2]", 4, 12) + "}";
        Path file = TestFiles.write(dir.resolve("any-order.safetensors"), TestFiles.safetensors(header, 20));
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            assertEquals(List.of("a.last", "m.middle", "z.first"), List.copyOf(weights.names()));
            assertEquals(12, weights.info("a.last").begin());
        }
    }

    @Test
    void zeroSizeTensorsMayShareAnOffsetAndHeaderPaddingMayBeAnyWhitespace() {
        String header = "{" + f32("empty1", "[0]", 4, 4) + "," + f32("empty2", "[3,0]", 4, 4) + ","
                + f32("a", "[1]", 0, 4) + ",\"__metadata__\":{}}  \n\t ";
        Path file = TestFiles.write(dir.resolve("zero.safetensors"), TestFiles.safetensors(header, 4));
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            assertEquals(3, weights.names().size());
            assertEquals(0, weights.tensor("empty2").size());
        }
    }
}
