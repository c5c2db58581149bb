import UnmaskKernels

/// A linear map by a weight W (in, out): forward is `MatMul.linear` (our GEMM with W
/// packed once, or OpenBLAS); the backward is here.
enum LinearLayer {
    /// dW += xᵀ·dy and dx = [dx +] dy·Wᵀ.  x: (rows, in); dy: (rows, out); dx: (rows, in).
    /// When W is stored transposed (a tied embedding (V, d) used as the head), its gradient
    /// is laid out like its storage: dWᵀ (out, in) += dyᵀ·x.
    static func backward(matmul: MatMul, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, weight: Weight,
                         dWeight: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulateDx: Bool = false) {
        let nIn = weight.rows, nOut = weight.cols
        if weight.transposed {
            matmul.gemm(transA: true, m: nOut, n: nIn, k: rows, a: dy, lda: nOut, b: x, ldb: nIn, c: dWeight, ldc: nIn, accumulate: true)
            if let dx {
                matmul.gemm(m: rows, n: nIn, k: nOut, a: dy, lda: nOut, b: weight.raw, ldb: nIn, c: dx, ldc: nIn, accumulate: accumulateDx)
            }
        } else {
            matmul.gemm(transA: true, m: nIn, n: nOut, k: rows, a: x, lda: nIn, b: dy, ldb: nOut, c: dWeight, ldc: nOut, accumulate: true)
            if let dx {
                matmul.gemm(transB: true, m: rows, n: nIn, k: nOut, a: dy, lda: nOut, b: weight.raw, ldb: nOut, c: dx, ldc: nIn,
                            accumulate: accumulateDx)
            }
        }
    }
}
