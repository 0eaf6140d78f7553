package dev.retort.models.hf;

import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * One safetensors file, memory-mapped whole as a single 64-bit segment; tensors are zero-copy views of it.
 *
 * <p>The header is read and validated (see {@link SafetensorsHeader}) before anything is mapped, so a file that
 * fails validation leaves no mapping behind, and every slice handed out lies inside a range the header check
 * has proven to be inside the file. The file must not be changed while it is mapped (the usual rule of
 * memory-mapped files: another process truncating it would fault the reader).
 */
public final class SafetensorsFile implements ModelWeights {
    private final Path path;
    private final SafetensorsHeader header;
    private final MemorySegment data;
    private final SortedSet<String> names;
    /** The arena this object created and closes, or null when the caller's arena owns the mapping. */
    private final Arena ownArena;
    private boolean closed;

    private SafetensorsFile(Path path, SafetensorsHeader header, MemorySegment data, Arena ownArena) {
        this.path = path;
        this.header = header;
        this.data = data;
        this.names = Collections.unmodifiableSortedSet(new TreeSet<>(header.tensors().keySet()));
        this.ownArena = ownArena;
    }

    /** Opens and maps {@code path} in an arena of its own (shared across threads), unmapped by {@link #close()}. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            return map(path, arena, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Opens and maps {@code path} in the caller's {@code arena}, which decides when it is unmapped. */
    public static SafetensorsFile open(Path path, Arena arena) {
        return map(path, arena, null);
    }

    private static SafetensorsFile map(Path path, Arena arena, Arena ownArena) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ModelFileException(path, "safetensors data is little-endian and this machine is not");
        }
        dev.retort.models.InputFiles.requireRegularFile(path, ModelFileException::new);
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw new ModelFileException(path, "file is " + fileSize + " bytes, shorter than the 8-byte header length");
            }
            long headerSize = readFully(channel, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            // Compared unsigned: a length with the top bit set is a huge u64, not a negative number.
            if (Long.compareUnsigned(headerSize, SafetensorsHeader.MAX_HEADER_BYTES) > 0) {
                throw new ModelFileException(path, "header length " + Long.toUnsignedString(headerSize)
                        + " exceeds the " + SafetensorsHeader.MAX_HEADER_BYTES + "-byte limit");
            }
            if (headerSize > fileSize - 8) {
                throw new ModelFileException(path, "header length " + headerSize + " runs past the end of the file ("
                        + fileSize + " bytes)");
            }
            byte[] json = new byte[(int) headerSize];
            readFully(channel, 8, json.length).get(json);
            long dataStart = 8 + headerSize;
            SafetensorsHeader header = SafetensorsHeader.parse(path, json, fileSize - dataStart);

            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, fileSize, arena);
            return new SafetensorsFile(path, header, file.asSlice(dataStart), ownArena);
        } catch (NoSuchFileException e) {
            throw new ModelFileException(path, "file not found", e);
        } catch (AccessDeniedException e) {
            throw new ModelFileException(path, "permission denied", e);
        } catch (IOException e) {
            throw new ModelFileException(path, "cannot read: " + e, e);
        }
    }

    private static ByteBuffer readFully(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new IOException("file ended while reading its header");
            }
        }
        return buffer.flip();
    }

    public Path path() {
        return path;
    }

    /** The validated header: every tensor's entry, by name. */
    public SafetensorsHeader header() {
        return header;
    }

    /** The {@code __metadata__} strings; empty when the file has none. */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    @Override
    public SortedSet<String> names() {
        return names;
    }

    @Override
    public boolean contains(String name) {
        return header.tensors().containsKey(name);
    }

    @Override
    public TensorInfo info(String name) {
        TensorInfo info = header.tensors().get(name);
        if (info == null) {
            throw new ModelFileException(path, "no tensor " + JsonFields.quote(name) + "; "
                    + NameSuggestions.describe(name, names));
        }
        return info;
    }

    @Override
    public Tensor tensor(String name) {
        TensorInfo info = info(name);
        DType type = info.dtype().retortType();
        if (type == null) {
            throw new ModelFileException(path, "tensor " + JsonFields.quote(name) + " has dtype " + info.dtype()
                    + ", which Retort does not compute with (F32, F16, BF16, I8); read its raw bytes instead");
        }
        return Tensor.wrap(bytes(name), type, info.shape());
    }

    @Override
    public MemorySegment bytes(String name) {
        TensorInfo info = info(name);
        return data.asSlice(info.begin(), info.byteSize());
    }

    /** Unmaps the file if this object owns the mapping; closing again does nothing. */
    @Override
    public synchronized void close() {
        if (ownArena != null && !closed) ownArena.close();
        closed = true;
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + names.size() + " tensors]";
    }
}
