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

/// A linear map's bias: y ← y + b on every row, and db += Σ_rows dy.
enum BiasLayer {
    /// y (rows, n) += b (n), rows over the threads.
    static func forward(_ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, rows: Int, n: Int, threads: Int) {
        Parallel.rows(rows, width: n, threads: threads) { range in
            for r in range { for j in 0..<n { y[r * n + j] += bias[j] } }
        }
    }

    /// Rows per block of the partial sums (fixed, like NormLayer's: the same gradient for
    /// any thread count).
    static let blockRows = 32

    /// Floats of scratch `backward` needs.
    static func scratchFloats(rows: Int, n: Int) -> Int { (rows + blockRows - 1) / blockRows * n }

    /// dBias (n) += Σ_rows dy (rows, n), summed in blocks of 32 rows then the blocks in order.
    static func backward(dy: UnsafePointer<Float>, rows: Int, n: Int, dBias: UnsafeMutablePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>, threads: Int) {
        let blocks = (rows + blockRows - 1) / blockRows
        Parallel.rows(blocks, width: blockRows * n, threads: threads) { range in
            for block in range {
                let partial = scratch + block * n
                partial.update(repeating: 0, count: n)
                for r in (block * blockRows)..<min(rows, (block + 1) * blockRows) {
                    for j in 0..<n { partial[j] += dy[r * n + j] }
                }
            }
        }
        for block in 0..<blocks { for j in 0..<n { dBias[j] += scratch[block * n + j] } }
    }
}
