package dev.retort.models.hf;

import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header: its element type, its shape, and where its bytes lie, as
 * offsets from the start of the data section (the byte after the header).
 *
 * @param name  the tensor's name in the header
 * @param dtype the element type
 * @param shape the dimensions, row-major; empty for a scalar (the accessor returns a copy)
 * @param begin offset of the first byte in the data section
 * @param end   offset one past the last byte in the data section
 */
public record TensorInfo(String name, SafetensorsDType dtype, int[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    /** Bytes the tensor occupies in the file. */
    public long byteSize() {
        return end - begin;
    }


    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " [" + begin + ", " + end + ")";
    }
}
