package dev.retort.tensor;

/**
 * Element types a tensor can hold. Activations and gradients are F32; frozen weights may stay BF16 or F16, or
 * Q8_0 (ggml's blocks of 32 int8 weights and one F16 scale, {@link Q8Block}) when read from a GGUF file for
 * inference.
 *
 * <p>Q8_0 is a block type: a tensor of it is addressed in elements as any other (element e of a row-major tensor
 * is weight e), but its bytes are whole blocks, so byte sizes and offsets come from {@link #byteSize} and element
 * offsets, row lengths and row strides must be multiples of 32.
 */
public enum DType {
    F32(4, "F32"),
    BF16(2, "BF16"),
    F16(2, "F16"),
    I8(1, "I8"),
    /** Blocks of {@link Q8Block#BLOCK} weights in {@link Q8Block#BYTES} bytes; {@link #bytes} is 0, see {@link #byteSize}. */
    Q8_0(0, "Q8_0");

    /** Bytes per element; 0 for the block type Q8_0, whose sizes come from {@link #byteSize}. */
    public final int bytes;
    /** The name safetensors uses for this type (Q8_0: ggml's; safetensors has none). */
    public final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    /** Bytes that {@code elements} elements take (for Q8_0 a multiple of 32 elements: whole blocks). */
    public long byteSize(long elements) {
        if (this != Q8_0) return elements * bytes;
        if (elements % Q8Block.BLOCK != 0) {
            throw new IllegalArgumentException(elements + " Q8_0 weights are not whole blocks of " + Q8Block.BLOCK);
        }
        return elements / Q8Block.BLOCK * Q8Block.BYTES;
    }

    /** True for a block type (Q8_0). */
    public boolean isBlock() {
        return this == Q8_0;
    }
}
