package dev.retort.autograd.ops;

import dev.retort.autograd.Graph;
import dev.retort.autograd.Var;
import dev.retort.tensor.DType;
import dev.retort.tensor.Tensor;
import dev.retort.tensor.kernels.Gemm;
import dev.retort.tensor.kernels.Gemm.Layout;
import java.util.Arrays;

/**
 * Matrix products. A Linear layer is {@code y = x·Wᵀ} with the weight stored [out × in] as in PyTorch; the
 * weight may be a frozen BF16/F16 tensor read in place (mixed precision): the gradient then flows to x only.
 */
public final class MatMul {
    private MatMul() {}

    /**
     * y = x·Wᵀ. x is [..., in] (F32), w is [out × in] (F32 trainable, or any dtype frozen); y is [..., out].
     */
    public static Var linear(Var x, Var w) {
        Graph g = x.graph();
        int in = x.dim(-1);
        int out = w.dim(0);
        if (w.value().rank() != 2 || w.dim(1) != in) {
            throw new IllegalArgumentException("linear: x " + Arrays.toString(x.shape()) + " does not fit weight "
                    + Arrays.toString(w.shape()) + " (expected [out × " + in + "])");
        }
        x.requireContiguousF32("linear input");
        int rows = (int) (x.size() / in);
        int[] yShape = x.shape();
        yShape[yShape.length - 1] = out;
        Tensor xv = x.value(), wv = w.value();
        Gemm gemm = g.kernels().gemm();

        // forward: y[rows × out] = x[rows × in] · w[out × in]ᵀ
        Tensor y = g.allocate(yShape);
        gemm.gemm(Layout.ABT, rows, out, in, 1f, xv.segment(), xv.offset(), in,
                wv.segment(), wv.offset(), (int) wv.stride(0), wv.dtype(), 0f, y.segment(), 0, out);

        return Var.result(g, y, true, dy -> {
            // dx[rows × in] += dy[rows × out] · w[out × in]
            if (x.requiresGrad()) {
                Tensor dx = x.gradForAccumulation();
                gemm.gemm(Layout.AB, rows, in, out, 1f, dy.segment(), 0, out,
                        wv.segment(), wv.offset(), (int) wv.stride(0), wv.dtype(), 1f, dx.segment(), 0, in);
            }
            // dw[out × in] += dy[rows × out]ᵀ · x[rows × in]
            if (w.requiresGrad()) {
                Tensor dw = w.gradForAccumulation();
                gemm.gemm(Layout.ATB, out, in, rows, 1f, dy.segment(), 0, out,
                        xv.segment(), xv.offset(), in, DType.F32, 1f, dw.segment(), 0, in);
            }
        }, x, w);
    }

    /**
     * C = op(A)·op(B) for 2-D operands, or batched over a leading axis when both are 3-D (a 2-D B is shared by
     * every batch entry). Layout AB: A [M×K], B [K×N]; ABT: B stored [N×K]; ATB: A stored [K×M]. A is F32; B
     * may be a frozen BF16/F16 tensor.
     */
    public static Var matmul(Var a, Var b, Layout layout) {
        Graph g = a.graph();
        a.requireContiguousF32("matmul A");
        if (!b.value().isContiguous()) throw new IllegalArgumentException("matmul: B must be contiguous");
        boolean batched = a.value().rank() == 3;
        if (a.value().rank() != (batched ? 3 : 2) || (b.value().rank() != 2 && b.value().rank() != 3)
                || (!batched && b.value().rank() == 3)) {
            throw new IllegalArgumentException("matmul: A " + Arrays.toString(a.shape()) + " and B "
                    + Arrays.toString(b.shape()) + " must be 2-D, or A 3-D with B 2-D or 3-D");
        }
        boolean bShared = b.value().rank() == 2;
        int batch = batched ? a.dim(0) : 1;
        if (batched && !bShared && b.dim(0) != batch) {
            throw new IllegalArgumentException("matmul: batch sizes differ: A " + Arrays.toString(a.shape()) + ", B " + Arrays.toString(b.shape()));
        }
        int aRows = a.dim(-2), aCols = a.dim(-1), bRows = b.dim(-2), bCols = b.dim(-1);
        int m = layout == Layout.ATB ? aCols : aRows;
        int k = layout == Layout.ATB ? aRows : aCols;
        int kb = layout == Layout.ABT ? bCols : bRows;
        int n = layout == Layout.ABT ? bRows : bCols;
        if (k != kb) {
            throw new IllegalArgumentException("matmul " + layout + ": inner sizes differ: A " + Arrays.toString(a.shape())
                    + ", B " + Arrays.toString(b.shape()));
        }
        Tensor av = a.value(), bv = b.value();
        DType bType = bv.dtype();
        long strideA = (long) aRows * aCols, strideB = bShared ? 0 : (long) bRows * bCols, strideC = (long) m * n;
        Gemm gemm = g.kernels().gemm();

        Tensor c = batched ? g.allocate(batch, m, n) : g.allocate(m, n);
        gemm.gemmBatched(layout, batch, m, n, k, 1f, av.segment(), av.offset(), strideA, aCols,
                bv.segment(), bv.offset(), strideB, bCols, bType, 0f, c.segment(), 0, strideC, n);

        return Var.result(g, c, true, dc -> {
            if (a.requiresGrad()) {
                Tensor da = a.gradForAccumulation();
                switch (layout) {
                    // C = A·B:   dA[M×K] += dC[M×N] · Bᵀ   (B stored [K×N])
                    case AB -> gemm.gemmBatched(Layout.ABT, batch, m, k, n, 1f, dc.segment(), 0, strideC, n,
                            bv.segment(), bv.offset(), strideB, bCols, bType, 1f, da.segment(), 0, strideA, aCols);
                    // C = A·Bᵀ:  dA[M×K] += dC[M×N] · B     (B stored [N×K])
                    case ABT -> gemm.gemmBatched(Layout.AB, batch, m, k, n, 1f, dc.segment(), 0, strideC, n,
                            bv.segment(), bv.offset(), strideB, bCols, bType, 1f, da.segment(), 0, strideA, aCols);
                    // C = Aᵀ·B:  dA[K×M] += B[K×N] · dCᵀ     (B stored [K×N]; dC is [M×N])
                    case ATB -> {
                        if (bType != DType.F32) throw new UnsupportedOperationException("matmul ATB: gradient of A with a " + bType + " B");
                        gemm.gemmBatched(Layout.ABT, batch, k, m, n, 1f, bv.segment(), bv.offset(), strideB, bCols,
                                dc.segment(), 0, strideC, n, DType.F32, 1f, da.segment(), 0, strideA, aCols);
                    }
                }
            }
            if (b.requiresGrad()) {
                Tensor db = b.gradForAccumulation();
                // A shared 2-D B receives the sum over the batch: accumulate batch entries in order (beta = 1).
                for (int i = 0; i < batch; i++) {
                    long aOff = av.offset() + i * strideA, cOff = i * strideC, bOff = i * strideB;
                    switch (layout) {
                        // C = A·B:   dB[K×N] += Aᵀ · dC   (A stored [M×K])
                        case AB -> gemm.gemm(Layout.ATB, k, n, m, 1f, av.segment(), aOff, aCols,
                                dc.segment(), cOff, n, DType.F32, 1f, db.segment(), bOff, bCols);
                        // C = A·Bᵀ:  dB[N×K] += dCᵀ · A   (dC is [M×N], A stored [M×K])
                        case ABT -> gemm.gemm(Layout.ATB, n, k, m, 1f, dc.segment(), cOff, n,
                                av.segment(), aOff, aCols, DType.F32, 1f, db.segment(), bOff, bCols);
                        // C = Aᵀ·B:  dB[K×N] += A · dC     (A stored [K×M])
                        case ATB -> gemm.gemm(Layout.AB, k, n, m, 1f, av.segment(), aOff, aCols,
                                dc.segment(), cOff, n, DType.F32, 1f, db.segment(), bOff, bCols);
                    }
                }
            }
        }, a, b);
    }
}
