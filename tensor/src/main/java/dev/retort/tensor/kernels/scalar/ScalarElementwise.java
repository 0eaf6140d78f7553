package dev.retort.tensor.kernels.scalar;

import dev.retort.tensor.DType;
import dev.retort.tensor.kernels.Elementwise;
import java.lang.foreign.MemorySegment;

/** Placeholder until the elementwise kernels land; every method throws. */
public final class ScalarElementwise implements Elementwise {
    @Override public void add(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.add not implemented yet"); }
    @Override public void mul(int n, MemorySegment a, long aOffset, int aStride, MemorySegment b, long bOffset, int bStride, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.mul not implemented yet"); }
    @Override public void scale(int n, float alpha, MemorySegment x, long xOffset, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.scale not implemented yet"); }
    @Override public void axpy(int n, float alpha, MemorySegment x, long xOffset, MemorySegment y, long yOffset) { throw new UnsupportedOperationException("ScalarElementwise.axpy not implemented yet"); }
    @Override public float sum(int n, MemorySegment x, long xOffset) { throw new UnsupportedOperationException("ScalarElementwise.sum not implemented yet"); }
    @Override public float max(int n, MemorySegment x, long xOffset) { throw new UnsupportedOperationException("ScalarElementwise.max not implemented yet"); }
    @Override public float dot(int n, MemorySegment x, long xOffset, MemorySegment y, long yOffset) { throw new UnsupportedOperationException("ScalarElementwise.dot not implemented yet"); }
    @Override public void softmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.softmax not implemented yet"); }
    @Override public void softmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset) { throw new UnsupportedOperationException("ScalarElementwise.softmaxBackward not implemented yet"); }
    @Override public void logSoftmax(int rows, int cols, MemorySegment x, long xOffset, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.logSoftmax not implemented yet"); }
    @Override public void logSoftmaxBackward(int rows, int cols, MemorySegment y, long yOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset) { throw new UnsupportedOperationException("ScalarElementwise.logSoftmaxBackward not implemented yet"); }
    @Override public void rmsNorm(int rows, int cols, float eps, MemorySegment x, long xOffset, MemorySegment weight, long weightOffset, MemorySegment out, long outOffset, MemorySegment rstd, long rstdOffset) { throw new UnsupportedOperationException("ScalarElementwise.rmsNorm not implemented yet"); }
    @Override public void rmsNormBackward(int rows, int cols, MemorySegment x, long xOffset, MemorySegment weight, long weightOffset, MemorySegment rstd, long rstdOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset, MemorySegment dweight, long dweightOffset) { throw new UnsupportedOperationException("ScalarElementwise.rmsNormBackward not implemented yet"); }
    @Override public void rope(RopeLayout layout, int tokens, int heads, int headDim, long tokenStride, MemorySegment x, long xOffset, int[] positions, MemorySegment cos, MemorySegment sin, boolean inverse) { throw new UnsupportedOperationException("ScalarElementwise.rope not implemented yet"); }
    @Override public void silu(int n, MemorySegment x, long xOffset, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.silu not implemented yet"); }
    @Override public void siluBackward(int n, MemorySegment x, long xOffset, MemorySegment dy, long dyOffset, MemorySegment dx, long dxOffset) { throw new UnsupportedOperationException("ScalarElementwise.siluBackward not implemented yet"); }
    @Override public void swiglu(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.swiglu not implemented yet"); }
    @Override public void swigluBackward(int n, MemorySegment gate, long gateOffset, MemorySegment up, long upOffset, MemorySegment dy, long dyOffset, MemorySegment dgate, long dgateOffset, MemorySegment dup, long dupOffset) { throw new UnsupportedOperationException("ScalarElementwise.swigluBackward not implemented yet"); }
    @Override public void embeddingGather(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment table, long tableOffset, DType tableType, MemorySegment out, long outOffset) { throw new UnsupportedOperationException("ScalarElementwise.embeddingGather not implemented yet"); }
    @Override public void embeddingScatterAdd(int count, int[] ids, int idsOffset, int vocab, int dim, MemorySegment dy, long dyOffset, MemorySegment dtable, long dtableOffset) { throw new UnsupportedOperationException("ScalarElementwise.embeddingScatterAdd not implemented yet"); }
}
