package dev.retort.models.hf;

import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes tensors as a safetensors file, laid out as the reference implementation lays them out: tensors sorted
 * by descending dtype (see {@link SafetensorsDType}) and then by name, the compact JSON header padded with
 * spaces to a multiple of 8 bytes, data in that order with no gaps. Views with any strides are written in
 * row-major order, byte for byte (no conversion through float, so every bit pattern, NaN payloads included,
 * survives).
 *
 * <p>The write is atomic: everything goes to a temporary file in the target's directory, which is flushed to
 * disk and then renamed over the target. If anything fails, the temporary file is removed and an existing
 * target is left as it was.
 */
public final class SafetensorsWriter {
    /** Largest piece handed to one channel write (a ByteBuffer cannot exceed 2 GB). */
    private static final long WRITE_CHUNK = 64L << 20;
    /** Staging buffer for gathering the rows of non-contiguous views. */
    private static final int STAGING_BYTES = 1 << 20;

    private SafetensorsWriter() {}

    public static void write(Path file, Map<String, Tensor> tensors) {
        write(file, tensors, Map.of());
    }

    /** Writes {@code tensors} with {@code metadata} as the {@code __metadata__} strings (omitted when empty). */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ModelFileException(file, "safetensors data is little-endian and this machine is not");
        }
        List<Map.Entry<String, Tensor>> ordered = layoutOrder(file, tensors);
        byte[] header = headerBytes(file, ordered, metadata);

        AtomicFile.write(file, out -> {
            try (Arena staging = Arena.ofConfined()) {
                ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
                writeFully(out, length);
                writeFully(out, ByteBuffer.wrap(header));
                MemorySegment buffer = staging.allocate(STAGING_BYTES);
                for (Map.Entry<String, Tensor> entry : ordered) writeData(out, entry.getValue(), buffer);
            }
        });
    }

    /** Descending dtype, then name by code point (the order of the names' UTF-8 bytes, as the reference sorts). */
    private static List<Map.Entry<String, Tensor>> layoutOrder(Path file, Map<String, Tensor> tensors) {
        List<Map.Entry<String, Tensor>> ordered = new ArrayList<>(tensors.size());
        for (Map.Entry<String, Tensor> entry : tensors.entrySet()) {
            if (entry.getKey() == null || entry.getValue() == null) {
                throw new IllegalArgumentException(file + ": null tensor name or tensor");
            }
            if (entry.getKey().equals(SafetensorsHeader.METADATA_KEY)) {
                throw new IllegalArgumentException(file + ": a tensor cannot be named " + SafetensorsHeader.METADATA_KEY);
            }
            ordered.add(Map.entry(entry.getKey(), entry.getValue()));
        }
        Comparator<Map.Entry<String, Tensor>> byDtype =
                Comparator.comparing(e -> SafetensorsDType.of(e.getValue().dtype()));
        ordered.sort(byDtype.reversed().thenComparing(Map.Entry::getKey, SafetensorsWriter::compareCodePoints));
        return ordered;
    }

    private static int compareCodePoints(String a, String b) {
        return Arrays.compare(a.codePoints().toArray(), b.codePoints().toArray());
    }

    private static byte[] headerBytes(Path file, List<Map.Entry<String, Tensor>> ordered, Map<String, String> metadata) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put(SafetensorsHeader.METADATA_KEY, new TreeMap<>(metadata));
        long offset = 0;
        for (Map.Entry<String, Tensor> entry : ordered) {
            Tensor t = entry.getValue();
            if (t.dtype().isBlock()) {
                throw new IllegalArgumentException(file + ": tensor " + entry.getKey() + " is " + t.dtype()
                        + ", which safetensors cannot hold; write F32, BF16 or F16 (or a GGUF file)");
            }
            long bytes = Math.multiplyExact(t.size(), (long) t.dtype().bytes);
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t.dtype().safetensorsName);
            info.put("shape", t.shape());
            info.put("data_offsets", new long[] {offset, offset + bytes});
            header.put(entry.getKey(), info);
            offset += bytes;
        }
        byte[] json;
        try {
            json = JsonFields.MAPPER.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ModelFileException(file, "cannot encode the header: " + e.getOriginalMessage(), e);
        }
        int padded = (json.length + 7) / 8 * 8; // the data section starts 8-byte aligned
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    /** Writes the elements of {@code t} in row-major order, straight from memory when it is contiguous. */
    private static void writeData(FileChannel out, Tensor t, MemorySegment staging) throws IOException {
        long elementBytes = t.dtype().bytes;
        if (t.size() == 0) return;
        if (t.isContiguous()) {
            MemorySegment bytes = t.segment().asSlice(t.byteOffset(), t.size() * elementBytes);
            for (long at = 0; at < bytes.byteSize(); at += WRITE_CHUNK) {
                writeFully(out, bytes.asSlice(at, Math.min(WRITE_CHUNK, bytes.byteSize() - at)).asByteBuffer());
            }
            return;
        }
        // A strided view: walk its rows (every index but the last); each row is one run when the last axis has
        // stride 1, else one element at a time. Runs are gathered in the staging buffer and written when full.
        int rank = t.rank();
        int[] shape = t.shape();
        long[] strides = t.strides();
        int rowLength = rank == 0 ? 1 : shape[rank - 1];
        long lastStride = rank == 0 ? 1 : strides[rank - 1];
        long rows = t.size() / rowLength;
        int[] index = new int[Math.max(rank - 1, 0)];
        long filled = 0;
        for (long row = 0; row < rows; row++) {
            long rowStart = t.offset();
            for (int axis = 0; axis < index.length; axis++) rowStart += index[axis] * strides[axis];
            for (int i = 0; i < rowLength; ) {
                int run = lastStride == 1 ? rowLength - i : 1;
                run = (int) Math.min(run, (staging.byteSize() - filled) / elementBytes);
                MemorySegment.copy(t.segment(), (rowStart + i * lastStride) * elementBytes, staging, filled, run * elementBytes);
                filled += run * elementBytes;
                i += run;
                if (filled + elementBytes > staging.byteSize()) {
                    writeFully(out, staging.asSlice(0, filled).asByteBuffer());
                    filled = 0;
                }
            }
            for (int axis = index.length - 1; axis >= 0; axis--) {
                if (++index[axis] < shape[axis]) break;
                index[axis] = 0;
            }
        }
        if (filled > 0) writeFully(out, staging.asSlice(0, filled).asByteBuffer());
    }

    private static void writeFully(FileChannel out, ByteBuffer buffer) throws IOException {
        AtomicFile.writeFully(out, buffer);
    }
}
