package dev.retort.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * An n-dimensional array over a {@link MemorySegment}: shape, strides (in elements), an element offset and a
 * dtype. Memory belongs to an {@link Arena} chosen by whoever allocates, so its lifetime is explicit: a
 * training step's activations die with the step's arena, memory-mapped weights with the file's.
 * Kernels run on the shared {@link ThreadPool}'s threads, so tensors they touch must live in a shared (or
 * global, or automatic) arena, never a confined one.
 *
 * <p>Views ({@link #slice}, {@link #transpose}, {@link #reshape}, {@link #select}) share the segment and never
 * copy. Kernels work on contiguous row-major data; {@link #contiguous} makes a copy when a view is not.
 *
 * <p>Element accessors ({@link #get}, {@link #set}) are for tests, set-up and small bookkeeping, never hot loops.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private final MemorySegment segment;
    private final DType dtype;
    private final int[] shape;
    private final long[] strides;
    private final long offset;

    private Tensor(MemorySegment segment, DType dtype, int[] shape, long[] strides, long offset) {
        this.segment = segment;
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
    }

    // ---- creation -------------------------------------------------------------------------------------

    /** A zero-filled contiguous tensor owned by {@code arena}. */
    public static Tensor zeros(Arena arena, DType dtype, int... shape) {
        long count = checkedCount(shape);
        MemorySegment segment = arena.allocate(dtype.byteSize(count), 64); // 64-byte aligned for SIMD loads
        return new Tensor(segment, dtype, shape.clone(), rowMajorStrides(shape), 0);
    }

    /** A contiguous F32 tensor holding a copy of {@code values}. */
    public static Tensor of(Arena arena, float[] values, int... shape) {
        Tensor t = zeros(arena, DType.F32, shape);
        if (values.length != t.size()) {
            throw new IllegalArgumentException(values.length + " values for shape " + Arrays.toString(shape));
        }
        MemorySegment.copy(values, 0, t.segment, F32, 0, values.length);
        return t;
    }

    /** A contiguous tensor of {@code dtype} holding {@code values} narrowed (round to nearest even) to it. */
    public static Tensor of(Arena arena, DType dtype, float[] values, int... shape) {
        if (dtype == DType.F32) return of(arena, values, shape);
        Tensor t = zeros(arena, dtype, shape);
        if (values.length != t.size()) {
            throw new IllegalArgumentException(values.length + " values for shape " + Arrays.toString(shape));
        }
        for (int i = 0; i < values.length; i++) t.setFlat(i, values[i]);
        return t;
    }

    /** Wraps existing memory (for example a memory-mapped weight) as a contiguous tensor, without copying. */
    public static Tensor wrap(MemorySegment segment, DType dtype, int... shape) {
        long count = checkedCount(shape);
        if (segment.byteSize() < dtype.byteSize(count)) {
            throw new IllegalArgumentException("segment of " + segment.byteSize() + " bytes is too small for "
                    + dtype + Arrays.toString(shape) + " (" + dtype.byteSize(count) + " bytes)");
        }
        return new Tensor(segment, dtype, shape.clone(), rowMajorStrides(shape), 0);
    }

    // ---- metadata -------------------------------------------------------------------------------------

    public MemorySegment segment() { return segment; }
    public DType dtype() { return dtype; }
    /** Offset of element [0,…,0] in elements of {@link #dtype()} from the start of the segment. */
    public long offset() { return offset; }
    public int rank() { return shape.length; }
    public int dim(int axis) { return shape[axis < 0 ? shape.length + axis : axis]; }
    public int[] shape() { return shape.clone(); }
    public long stride(int axis) { return strides[axis < 0 ? strides.length + axis : axis]; }
    public long[] strides() { return strides.clone(); }

    public long size() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    /** True when the elements lie in row-major order with no gaps (size-1 axes may have any stride). */
    public boolean isContiguous() {
        long expected = 1;
        for (int axis = shape.length - 1; axis >= 0; axis--) {
            if (shape[axis] != 1 && strides[axis] != expected) return false;
            expected *= shape[axis];
        }
        return true;
    }

    /** Byte offset of element [0,…,0] in the segment (for Q8_0, of its block). */
    public long byteOffset() { return dtype == DType.Q8_0 ? Q8Block.blockAt(offset) : dtype.byteSize(offset); }

    // ---- views ----------------------------------------------------------------------------------------

    /** Elements {@code start} (inclusive) to {@code end} (exclusive) along {@code axis}; shares memory. */
    public Tensor slice(int axis, int start, int end) {
        int a = axis < 0 ? shape.length + axis : axis;
        if (start < 0 || end > shape[a] || start > end) {
            throw new IndexOutOfBoundsException("slice [" + start + ", " + end + ") of axis " + a + " with size " + shape[a]);
        }
        int[] newShape = shape.clone();
        newShape[a] = end - start;
        return new Tensor(segment, dtype, newShape, strides.clone(), offset + start * strides[a]);
    }

    /** Index {@code index} along {@code axis}, dropping that axis; shares memory. */
    public Tensor select(int axis, int index) {
        int a = axis < 0 ? shape.length + axis : axis;
        if (index < 0 || index >= shape[a]) {
            throw new IndexOutOfBoundsException("index " + index + " of axis " + a + " with size " + shape[a]);
        }
        int[] newShape = new int[shape.length - 1];
        long[] newStrides = new long[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i == a) continue;
            newShape[j] = shape[i];
            newStrides[j++] = strides[i];
        }
        return new Tensor(segment, dtype, newShape, newStrides, offset + index * strides[a]);
    }

    /** Swaps two axes; shares memory (the result is usually not contiguous). */
    public Tensor transpose(int axis0, int axis1) {
        int a = axis0 < 0 ? shape.length + axis0 : axis0;
        int b = axis1 < 0 ? shape.length + axis1 : axis1;
        int[] newShape = shape.clone();
        long[] newStrides = strides.clone();
        newShape[a] = shape[b];
        newShape[b] = shape[a];
        newStrides[a] = strides[b];
        newStrides[b] = strides[a];
        return new Tensor(segment, dtype, newShape, newStrides, offset);
    }

    /** The same elements with a new shape; one dimension may be -1. Requires a contiguous tensor. */
    public Tensor reshape(int... newShape) {
        int[] resolved = newShape.clone();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < resolved.length; i++) {
            if (resolved[i] == -1) {
                if (inferred >= 0) throw new IllegalArgumentException("more than one -1 in " + Arrays.toString(newShape));
                inferred = i;
            } else {
                known *= resolved[i];
            }
        }
        if (inferred >= 0) {
            if (known == 0 || size() % known != 0) {
                throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " to " + Arrays.toString(newShape));
            }
            resolved[inferred] = (int) (size() / known);
        }
        if (checkedCount(resolved) != size()) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(shape) + " (" + size()
                    + " elements) to " + Arrays.toString(newShape));
        }
        if (!isContiguous()) {
            throw new IllegalStateException("reshape needs a contiguous tensor; call contiguous() first (shape "
                    + Arrays.toString(shape) + ", strides " + Arrays.toString(strides) + ")");
        }
        return new Tensor(segment, dtype, resolved, rowMajorStrides(resolved), offset);
    }

    /** This tensor if it is contiguous, else a contiguous copy in {@code arena}. */
    public Tensor contiguous(Arena arena) {
        if (isContiguous()) return this;
        Tensor copy = zeros(arena, dtype, shape);
        copyInto(copy);
        return copy;
    }

    /** Copies every element into {@code dst}, which must have the same shape (dtypes may differ). */
    public void copyInto(Tensor dst) {
        if (!Arrays.equals(shape, dst.shape)) {
            throw new IllegalArgumentException("copy of shape " + Arrays.toString(shape) + " into " + Arrays.toString(dst.shape));
        }
        if (dtype == dst.dtype && isContiguous() && dst.isContiguous()) {
            MemorySegment.copy(segment, byteOffset(), dst.segment, dst.byteOffset(), dtype.byteSize(size()));
            return;
        }
        int last = shape.length - 1;
        if (dtype == dst.dtype && !dtype.isBlock() && last >= 0 && strides[last] == 1 && dst.strides[last] == 1 && shape[last] > 1) {
            // Rows along the last axis are contiguous on both sides: copy them whole, walking the outer axes.
            long rows = size() / shape[last];
            long rowBytes = (long) shape[last] * dtype.bytes;
            int[] index = new int[shape.length];
            for (long r = 0; r < rows; r++) {
                MemorySegment.copy(segment, elementOffset(index) * dtype.bytes, dst.segment, dst.elementOffset(index) * dtype.bytes, rowBytes);
                index[last] = shape[last] - 1;
                increment(index);
            }
            return;
        }
        long n = size();
        int[] index = new int[shape.length];
        for (long i = 0; i < n; i++) {
            dst.setAt(dst.elementOffset(index), getAt(elementOffset(index)));
            increment(index);
        }
    }

    // ---- element access (tests, set-up) --------------------------------------------------------------

    /** The element at {@code index} (one index per axis), widened to float. */
    public float get(int... index) {
        return getAt(elementOffset(index));
    }

    public void set(float value, int... index) {
        setAt(elementOffset(index), value);
    }

    /** The element at row-major position {@code flat}, whatever the strides. */
    public float getFlat(long flat) {
        return getAt(elementOffset(unflatten(flat)));
    }

    public void setFlat(long flat, float value) {
        setAt(elementOffset(unflatten(flat)), value);
    }

    /** All elements in row-major order, widened to float. */
    public float[] toFloatArray() {
        long n = size();
        if (n > Integer.MAX_VALUE - 8) throw new IllegalStateException("tensor too large for a float[]: " + n);
        float[] out = new float[(int) n];
        if (dtype == DType.F32 && isContiguous()) {
            MemorySegment.copy(segment, F32, offset * 4, out, 0, out.length);
            return out;
        }
        int[] index = new int[shape.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = getAt(elementOffset(index));
            increment(index);
        }
        return out;
    }

    /** Fills every element with {@code value} (narrowed to the dtype). */
    public Tensor fill(float value) {
        long n = size();
        int[] index = new int[shape.length];
        for (long i = 0; i < n; i++) {
            setAt(elementOffset(index), value);
            increment(index);
        }
        return this;
    }

    @Override
    public String toString() {
        return "Tensor" + dtype + Arrays.toString(shape);
    }

    // ---- internals ------------------------------------------------------------------------------------

    private float getAt(long element) {
        return switch (dtype) {
            case F32 -> segment.getAtIndex(F32, element);
            case BF16 -> Half.bf16ToFloat(segment.getAtIndex(I16, element));
            case F16 -> Half.f16ToFloat(segment.getAtIndex(I16, element));
            case I8 -> segment.get(ValueLayout.JAVA_BYTE, element);
            case Q8_0 -> Q8Block.get(segment, element);
        };
    }

    private void setAt(long element, float value) {
        switch (dtype) {
            case F32 -> segment.setAtIndex(F32, element, value);
            case BF16 -> segment.setAtIndex(I16, element, Half.floatToBf16(value));
            case F16 -> segment.setAtIndex(I16, element, Half.floatToF16(value));
            case I8 -> segment.set(ValueLayout.JAVA_BYTE, element, (byte) Math.max(-128, Math.min(127, Math.round(value))));
            case Q8_0 -> throw new UnsupportedOperationException("Q8_0 tensors are read-only (quantise whole blocks instead)");
        }
    }

    private long elementOffset(int[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException(index.length + " indices for rank " + shape.length);
        }
        long at = offset;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " out of " + Arrays.toString(shape));
            }
            at += index[i] * strides[i];
        }
        return at;
    }

    private int[] unflatten(long flat) {
        int[] index = new int[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            index[i] = (int) (flat % shape[i]);
            flat /= shape[i];
        }
        return index;
    }

    private void increment(int[] index) {
        for (int i = index.length - 1; i >= 0; i--) {
            if (++index[i] < shape[i]) return;
            index[i] = 0;
        }
    }

    static long[] rowMajorStrides(int[] shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= shape[i];
        }
        return strides;
    }

    private static long checkedCount(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }
}
