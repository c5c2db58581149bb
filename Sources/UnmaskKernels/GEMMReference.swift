/// The naive GEMM, kept as the algorithmic reference: three loops, accumulated in Double.
/// Tests compare every fast path against it. C = [C +] op(A)·op(B), same conventions as GEMM.sgemm.
public func referenceGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                          a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                          c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = transA ? a[p * lda + i] : a[i * lda + p]
                let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                sum += Double(x) * Double(y)
            }
            c[i * ldc + j] = accumulate ? Float(Double(c[i * ldc + j]) + sum) : Float(sum)
        }
    }
}
