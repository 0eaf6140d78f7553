package dev.retort.models.hf;

import static dev.retort.models.hf.JsonFields.quote;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The parsed and validated JSON header of a safetensors file.
 *
 * <p>The format: an 8-byte little-endian length N, N bytes of UTF-8 JSON, then the data section. The JSON maps
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the data
 * section) and may hold one {@code "__metadata__"} object of string to string.
 *
 * <p>Validation follows the reference implementation: the order of entries in the JSON is free (writers sort by
 * name, by dtype or not at all), but sorted by offset the byte ranges must tile the data section exactly, with
 * no overlap and no hole, ending at the end of the file. Each range must hold exactly shape × dtype bytes. A
 * header that passes can be sliced without any further bounds reasoning.
 */
public record SafetensorsHeader(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
    /** The reference implementation refuses headers over 100 MB; real ones are at most a few MB. */
    public static final long MAX_HEADER_BYTES = 100_000_000;

    public static final String METADATA_KEY = "__metadata__";

    public SafetensorsHeader {
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /**
     * Parses {@code json} (the header bytes, padding included) of {@code file}, whose data section is
     * {@code dataSize} bytes long. Tensors come out sorted by name.
     */
    public static SafetensorsHeader parse(Path file, byte[] json, long dataSize) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(json))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ModelFileException(file, "header is not valid UTF-8");
        }
        JsonNode root = JsonFields.parseObject(file, text, "header");

        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> entry : root.properties()) {
            if (entry.getKey().equals(METADATA_KEY)) {
                readMetadata(file, entry.getValue(), metadata);
            } else {
                tensors.add(readTensor(file, entry.getKey(), entry.getValue(), dataSize));
            }
        }
        checkTiling(file, tensors, dataSize);

        Map<String, TensorInfo> byName = new TreeMap<>();
        for (TensorInfo t : tensors) byName.put(t.name(), t);
        return new SafetensorsHeader(byName, metadata);
    }

    private static void readMetadata(Path file, JsonNode node, Map<String, String> into) {
        JsonFields.objectValue(file, METADATA_KEY, node);
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            into.put(entry.getKey(), JsonFields.stringValue(file, METADATA_KEY + "." + quote(entry.getKey()), entry.getValue()));
        }
    }

    private static TensorInfo readTensor(Path file, String name, JsonNode node, long dataSize) {
        String field = "tensor " + quote(name);
        JsonFields.objectValue(file, field, node);

        String dtypeName = JsonFields.stringValue(file, field + " dtype", JsonFields.required(file, node, "dtype", field));
        SafetensorsDType dtype = SafetensorsDType.byName(dtypeName);
        if (dtype == null) {
            throw new ModelFileException(file, field + " has unknown dtype " + quote(dtypeName)
                    + " (known: " + Arrays.toString(SafetensorsDType.values()) + ")");
        }

        JsonNode shapeNode = JsonFields.arrayValue(file, field + " shape", JsonFields.required(file, node, "shape", field));
        int[] shape = new int[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            JsonNode dim = shapeNode.get(i);
            if (!dim.isIntegralNumber()) {
                throw new ModelFileException(file, field + " shape has " + JsonFields.kind(dim) + " where a dimension belongs");
            }
            if (dim.bigIntegerValue().signum() < 0) {
                throw new ModelFileException(file, field + " has negative dimension " + dim + " in its shape");
            }
            if (!dim.canConvertToInt()) {
                throw new ModelFileException(file, field + " has dimension " + dim + ", larger than Retort supports (2^31-1)");
            }
            shape[i] = dim.intValue();
        }

        JsonNode offsets = JsonFields.arrayValue(file, field + " data_offsets", JsonFields.required(file, node, "data_offsets", field));
        if (offsets.size() != 2) {
            throw new ModelFileException(file, field + " data_offsets must be [begin, end] but has " + offsets.size() + " numbers");
        }
        long begin = offset(file, field, offsets.get(0), dataSize);
        long end = offset(file, field, offsets.get(1), dataSize);
        if (begin > end) {
            throw new ModelFileException(file, field + " has data_offsets [" + begin + ", " + end + ") with begin after end");
        }

        long bytes = byteCount(file, field, dtype, shape);
        if (bytes != end - begin) {
            throw new ModelFileException(file, field + " has data_offsets [" + begin + ", " + end + ") ("
                    + (end - begin) + " bytes) but shape " + Arrays.toString(shape) + " " + dtype + " needs " + bytes + " bytes");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long offset(Path file, String field, JsonNode node, long dataSize) {
        if (!node.isIntegralNumber()) {
            throw new ModelFileException(file, field + " data_offsets has " + JsonFields.kind(node) + " where an offset belongs");
        }
        if (node.bigIntegerValue().signum() < 0) {
            throw new ModelFileException(file, field + " has negative data offset " + node);
        }
        if (!node.canConvertToLong() || node.longValue() > dataSize) {
            throw new ModelFileException(file, field + " has data offset " + node + " past the end of the data section ("
                    + dataSize + " bytes)");
        }
        return node.longValue();
    }

    /** shape × dtype in bytes, with every multiplication checked: a hostile shape must not wrap around. */
    private static long byteCount(Path file, String field, SafetensorsDType dtype, int[] shape) {
        try {
            long bits = dtype.bits;
            for (int d : shape) bits = Math.multiplyExact(bits, d);
            if (bits % 8 != 0) {
                throw new ModelFileException(file, field + " shape " + Arrays.toString(shape) + " " + dtype
                        + " does not fill a whole number of bytes");
            }
            return bits / 8;
        } catch (ArithmeticException e) {
            throw new ModelFileException(file, field + " shape " + Arrays.toString(shape) + " " + dtype + " overflows 64-bit sizes");
        }
    }

    /** Sorted by offset, the ranges must cover [0, dataSize) exactly once. */
    private static void checkTiling(Path file, List<TensorInfo> tensors, long dataSize) {
        List<TensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long covered = 0;
        TensorInfo previous = null;
        for (TensorInfo t : byOffset) {
            if (t.begin() < covered) {
                throw new ModelFileException(file, "tensor " + quote(t.name()) + " bytes [" + t.begin() + ", " + t.end()
                        + ") overlap tensor " + quote(previous.name()) + " bytes [" + previous.begin() + ", " + previous.end() + ")");
            }
            if (t.begin() > covered) {
                throw new ModelFileException(file, "data bytes [" + covered + ", " + t.begin() + ") before tensor "
                        + quote(t.name()) + " belong to no tensor (the format allows no holes)");
            }
            covered = t.end();
            previous = t;
        }
        if (covered != dataSize) {
            throw new ModelFileException(file, "data bytes [" + covered + ", " + dataSize + ") at the end of the file "
                    + "belong to no tensor (the format allows no holes)");
        }
    }
}
