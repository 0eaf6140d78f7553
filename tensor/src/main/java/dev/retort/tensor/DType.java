package dev.retort.tensor;

/** Element types a tensor can hold. Activations and gradients are F32; frozen weights may stay BF16 or F16. */
public enum DType {
    F32(4, "F32"),
    BF16(2, "BF16"),
    F16(2, "F16"),
    I8(1, "I8");

    /** Bytes per element. */
    public final int bytes;
    /** The name safetensors uses for this type. */
    public final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }
}
