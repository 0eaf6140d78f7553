package dev.retort.models.hf;

import dev.retort.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SortedSet;

/**
 * Named tensors of a checkpoint, read in place from memory-mapped files: one safetensors file, or the shards of a
 * sharded checkpoint seen as one collection. Tensors stay valid until {@link #close()}.
 */
public interface ModelWeights extends AutoCloseable {
    /** The file name of a single-file checkpoint in a Hugging Face model directory. */
    String SINGLE_FILE = "model.safetensors";
    /** The file name of the index of a sharded checkpoint. */
    String INDEX_FILE = "model.safetensors.index.json";

    /** Every tensor name, sorted. */
    SortedSet<String> names();

    boolean contains(String name);

    /** The header entry of {@code name}; a {@link ModelFileException} listing close names when it is missing. */
    TensorInfo info(String name);

    /**
     * The tensor {@code name} as a zero-copy view of the mapped file (read-only memory). Its dtype must be one
     * Retort computes with (F32, F16, BF16, I8); other types are an error that points to {@link #bytes}.
     */
    Tensor tensor(String name);

    /** The raw little-endian bytes of {@code name}, whatever its dtype (read-only, zero-copy). */
    MemorySegment bytes(String name);

    /** Unmaps the files when this object owns their memory. Tensors handed out become invalid. */
    @Override
    void close();

    /**
     * Opens the weights of a Hugging Face model directory ({@value #SINGLE_FILE} when present, else
     * {@value #INDEX_FILE}), or one file directly: an index file, a safetensors file, or a GGUF file (known by its
     * magic; {@link dev.retort.models.gguf.GgufWeights}, tensors under their HF names).
     */
    static ModelWeights open(Path dirOrFile) {
        return open(dirOrFile, false);
    }

    /**
     * As {@link #open(Path)}; with {@code q8InPlace} a GGUF file's Q8_0 tensors stay Q8_0 in the mapping, for a
     * model that only runs inference (frozen: the kernels read Q8_0, a trainable copy would dequantise).
     */
    static ModelWeights open(Path dirOrFile, boolean q8InPlace) {
        if (dev.retort.models.gguf.GgufFile.isGguf(dirOrFile)) return dev.retort.models.gguf.GgufWeights.open(dirOrFile, q8InPlace);
        if (Files.isDirectory(dirOrFile)) {
            // transformers looks for the single file first, so a directory holding both loads the single file.
            Path single = dirOrFile.resolve(SINGLE_FILE);
            if (Files.exists(single)) return SafetensorsFile.open(single);
            Path index = dirOrFile.resolve(INDEX_FILE);
            if (Files.exists(index)) return ShardedSafetensors.open(index);
            throw new ModelFileException(dirOrFile, "has neither " + SINGLE_FILE + " nor " + INDEX_FILE);
        }
        if (dirOrFile.getFileName() != null && dirOrFile.getFileName().toString().endsWith(".index.json")) {
            return ShardedSafetensors.open(dirOrFile);
        }
        return SafetensorsFile.open(dirOrFile);
    }
}
