package dev.retort.tensor;

import dev.retort.tensor.kernels.ElementwiseSupport;
import dev.retort.tensor.kernels.Kernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * NumPy broadcasting over F32 tensors, built on the stride-0/1 element-wise kernels, and its backward.
 *
 * <p>Shapes are aligned at the right; an operand with fewer dimensions gets leading 1s, and a size-1 axis
 * stretches to the other operand's size. The loop over the output walks the outer axes and calls a kernel on
 * the innermost run, where each operand is either a vector (stride 1) or one broadcast value (stride 0).
 * Before that, adjacent axes that are laid out contiguously for every operand are merged, so for example
 * [B, T, C] + [C] runs B·T kernel calls of C elements and [B, T, C] + [B, T, C] is a single call.
 *
 * <p>Views (non-contiguous operands) are supported: when an operand's innermost axis is not stride 0 or 1, the
 * innermost run shrinks to one element (correct, slower). {@code out} may be {@code a} or {@code b} itself when
 * that operand already has the broadcast shape (in-place {@code a += b}), but must not partially overlap them.
 */
public final class Broadcast {
    private Broadcast() {}

    /** The broadcast shape of {@code a} and {@code b}, or an IllegalArgumentException naming both shapes. */
    public static int[] broadcastShape(int[] a, int[] b) {
        int rank = Math.max(a.length, b.length);
        int[] shape = new int[rank];
        for (int i = 0; i < rank; i++) {
            int da = dimFromRight(a, rank - 1 - i), db = dimFromRight(b, rank - 1 - i);
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException("shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " do not broadcast: axis " + i + " of the result has sizes " + da + " and " + db);
            }
            shape[i] = da == 1 ? db : da;
        }
        return shape;
    }

    /** Size of the axis {@code fromRight} places from the last one, 1 where the shape has no such axis. */
    private static int dimFromRight(int[] shape, int fromRight) {
        int axis = shape.length - 1 - fromRight;
        return axis >= 0 ? shape[axis] : 1;
    }

    /** out = a + b with broadcasting; out must have the broadcast shape. */
    public static void add(Kernels k, Tensor a, Tensor b, Tensor out) {
        binary(k, false, a, b, out);
    }

    /** out = a · b (element-wise) with broadcasting; out must have the broadcast shape. */
    public static void mul(Kernels k, Tensor a, Tensor b, Tensor out) {
        binary(k, true, a, b, out);
    }

    private static void binary(Kernels k, boolean multiply, Tensor a, Tensor b, Tensor out) {
        requireF32("a", a);
        requireF32("b", b);
        requireF32("out", out);
        int[] shape = broadcastShape(a.shape(), b.shape());
        if (!Arrays.equals(shape, out.shape())) {
            throw new IllegalArgumentException("out has shape " + Arrays.toString(out.shape()) + " but "
                    + Arrays.toString(a.shape()) + " and " + Arrays.toString(b.shape()) + " broadcast to "
                    + Arrays.toString(shape));
        }
        if (out.size() == 0) return;
        Walk walk = Walk.of(shape, new Tensor[] {out, a, b});
        long[] runStrides = walk.innerStrides();
        boolean vectorRun = runStrides[0] == 1 && runStrides[1] <= 1 && runStrides[2] <= 1;
        int runLength = vectorRun ? walk.innerLength() : 1;
        int aStride = vectorRun ? (int) runStrides[1] : 1, bStride = vectorRun ? (int) runStrides[2] : 1;
        long runs = out.size() / runLength;
        // Outer runs are independent, so tasks over them give the same bits for any thread count; a kernel
        // called inside a task runs on that task's thread, a kernel called alone may parallelise itself.
        int tasks = ThreadPool.tasksFor(out.size(), ElementwiseSupport.ELEMENT_GRAIN, (int) Math.min(runs, 1024));
        MemorySegment os = out.segment(), as = a.segment(), bs = b.segment();
        ThreadPool.shared().parallelFor(tasks, t -> {
            long first = runs * t / tasks, last = runs * (t + 1) / tasks;
            Walk.Cursor c = walk.cursor(vectorRun ? 1 : 0, first);
            for (long r = first; r < last; r++, c.next()) {
                long o = out.offset() + c.offset(0), ao = a.offset() + c.offset(1), bo = b.offset() + c.offset(2);
                if (multiply) k.elementwise().mul(runLength, as, ao, aStride, bs, bo, bStride, os, o);
                else k.elementwise().add(runLength, as, ao, aStride, bs, bo, bStride, os, o);
            }
        });
    }

    /**
     * Reduces {@code grad}, which has the broadcast shape of some operation, to {@code out}'s shape by summing
     * over the axes that were broadcast (the backward pass of broadcasting). {@code out} is overwritten. Each
     * element of out sums its contributions in row-major order of grad, so the result is deterministic.
     */
    public static void sumToShape(Kernels k, Tensor grad, Tensor out) {
        requireF32("grad", grad);
        requireF32("out", out);
        int[] gradShape = grad.shape();
        if (out.rank() > grad.rank() || !Arrays.equals(broadcastShape(out.shape(), gradShape), gradShape)) {
            throw new IllegalArgumentException("cannot sum a gradient of shape " + Arrays.toString(gradShape)
                    + " to shape " + Arrays.toString(out.shape()) + ": it does not broadcast to the gradient's shape");
        }
        zero(out);
        if (grad.size() == 0) return;
        Walk walk = Walk.of(gradShape, new Tensor[] {grad, out});
        long[] runStrides = walk.innerStrides();
        // The innermost run is either kept (out[run] += grad[run]) or summed (out[o] += Σ grad[run]).
        boolean keptRun = runStrides[0] == 1 && runStrides[1] == 1;
        boolean summedRun = runStrides[0] == 1 && runStrides[1] == 0;
        int runLength = keptRun || summedRun ? walk.innerLength() : 1;
        long runs = grad.size() / runLength;
        MemorySegment gs = grad.segment(), os = out.segment();
        Walk.Cursor c = walk.cursor(keptRun || summedRun ? 1 : 0, 0);
        for (long r = 0; r < runs; r++, c.next()) {
            long g = grad.offset() + c.offset(0), o = out.offset() + c.offset(1);
            if (keptRun) {
                k.elementwise().add(runLength, os, o, 1, gs, g, 1, os, o);
            } else {
                float s = summedRun ? k.elementwise().sum(runLength, gs, g) : gs.getAtIndex(F32, g);
                os.setAtIndex(F32, o, os.getAtIndex(F32, o) + s);
            }
        }
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private static void zero(Tensor t) {
        if (t.isContiguous()) t.segment().asSlice(t.byteOffset(), t.size() * 4).fill((byte) 0);
        else t.fill(0f);
    }

    private static void requireF32(String name, Tensor t) {
        if (t.dtype() != DType.F32) {
            throw new IllegalArgumentException(name + " must be F32 for broadcasting ops, got " + t.dtype()
                    + Arrays.toString(t.shape()));
        }
    }

    /**
     * The iteration over a broadcast shape for several operands: per axis, the size and each operand's stride
     * in elements (0 where the operand is broadcast along that axis). Size-1 axes are dropped and adjacent axes
     * merged wherever every operand steps through them as through one axis.
     */
    private record Walk(int operands, int[] dims, long[][] strides) {

        static Walk of(int[] shape, Tensor[] operands) {
            int rank = shape.length;
            List<Integer> dimList = new ArrayList<>();
            List<long[]> strideList = new ArrayList<>();
            for (int axis = 0; axis < rank; axis++) {
                if (shape[axis] == 1) continue;
                long[] s = new long[operands.length];
                for (int o = 0; o < operands.length; o++) {
                    Tensor t = operands[o];
                    int own = axis - (rank - t.rank());
                    s[o] = own < 0 || t.dim(own) == 1 ? 0 : t.stride(own);
                }
                // Merge into the previous (outer) axis when, for every operand, outer stride = inner stride × size.
                int last = dimList.size() - 1;
                if (last >= 0 && mergeable(strideList.get(last), s, shape[axis])) {
                    dimList.set(last, dimList.get(last) * shape[axis]);
                    strideList.set(last, s);
                } else {
                    dimList.add(shape[axis]);
                    strideList.add(s);
                }
            }
            int[] dims = dimList.stream().mapToInt(Integer::intValue).toArray();
            long[][] strides = strideList.toArray(new long[0][]);
            return new Walk(operands.length, dims, strides);
        }

        private static boolean mergeable(long[] outer, long[] inner, int innerSize) {
            for (int o = 0; o < outer.length; o++) if (outer[o] != inner[o] * innerSize) return false;
            return true;
        }

        int innerLength() {
            return dims.length == 0 ? 1 : dims[dims.length - 1];
        }

        /** Each operand's stride along the innermost axis (0 for all when the shape is a single element). */
        long[] innerStrides() {
            return dims.length == 0 ? new long[operands] : strides[dims.length - 1];
        }

        /** A cursor over the runs: all axes but the last {@code innerAxes}, starting at run {@code first}. */
        Cursor cursor(int innerAxes, long first) {
            return new Cursor(this, dims.length - innerAxes, first);
        }

        /** Odometer over the outer axes, tracking each operand's element offset. */
        static final class Cursor {
            private final Walk walk;
            private final int axes;
            private final int[] index;
            private final long[] offsets;

            Cursor(Walk walk, int axes, long first) {
                this.walk = walk;
                this.axes = Math.max(0, axes);
                this.index = new int[this.axes];
                int operands = walk.operands;
                this.offsets = new long[operands];
                for (int axis = this.axes - 1; axis >= 0; axis--) {
                    index[axis] = (int) (first % walk.dims[axis]);
                    first /= walk.dims[axis];
                    for (int o = 0; o < operands; o++) offsets[o] += index[axis] * walk.strides[axis][o];
                }
            }

            long offset(int operand) {
                return offsets[operand];
            }

            void next() {
                for (int axis = axes - 1; axis >= 0; axis--) {
                    long[] s = walk.strides[axis];
                    if (++index[axis] < walk.dims[axis]) {
                        for (int o = 0; o < offsets.length; o++) offsets[o] += s[o];
                        return;
                    }
                    for (int o = 0; o < offsets.length; o++) offsets[o] -= (long) (index[axis] - 1) * s[o];
                    index[axis] = 0;
                }
            }
        }
    }
}
