package dev.retort.models.hf;

import dev.retort.tensor.DType;

/**
 * Every element type the safetensors format names, with its width in bits. Only some have a Retort
 * {@link DType}; the others can still be validated and read as raw bytes.
 */
public enum SafetensorsDType {
    // Declared in the reference implementation's order, which is also the order its writer uses to lay tensors
    // out (descending): wider types first, so that every tensor starts aligned to its element size.
    BOOL(8, null),
    F4(4, null),
    F6_E2M3(6, null),
    F6_E3M2(6, null),
    U8(8, null),
    I8(8, DType.I8),
    F8_E5M2(8, null),
    F8_E4M3(8, null),
    F8_E8M0(8, null),
    F8_E4M3FNUZ(8, null),
    F8_E5M2FNUZ(8, null),
    I16(16, null),
    U16(16, null),
    F16(16, DType.F16),
    BF16(16, DType.BF16),
    I32(32, null),
    U32(32, null),
    F32(32, DType.F32),
    C64(64, null),
    F64(64, null),
    I64(64, null),
    U64(64, null);

    /** Width of one element; the sub-byte types pack several elements per byte. */
    public final int bits;
    private final DType retortType;

    SafetensorsDType(int bits, DType retortType) {
        this.bits = bits;
        this.retortType = retortType;
    }

    /** The Retort type for this element type, or null when Retort cannot compute with it. */
    public DType retortType() {
        return retortType;
    }

    /** The file type that stores a Retort type. */
    public static SafetensorsDType of(DType type) {
        return valueOf(type.safetensorsName);
    }

    /** The type with this exact (case-sensitive) name, or null when the format has none by that name. */
    public static SafetensorsDType byName(String name) {
        for (SafetensorsDType t : values()) {
            if (t.name().equals(name)) return t;
        }
        return null;
    }
}
