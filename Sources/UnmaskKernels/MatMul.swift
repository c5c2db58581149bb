/// One entry point for every matrix product the model makes, so `--backend` switches
/// all of them at once: ours, or OpenBLAS. Same conventions as `GEMM.sgemm`.
public struct MatMul: Sendable {
    public var backend: GEMMBackend
    public var threads: Int
    /// The arithmetic of `linear` (the model's weight products): fp32, or int8 for the
    /// weights that have an int8 copy (`Weight.prepareInt8`). `gemm` is always fp32.
    public var compute: Compute
    /// Quantized-activation scratch for the int8 path. Copies of a MatMul share it, so a
    /// model takes its own (`withOwnScratch`): two models may then run on two threads.
    let int8Scratch: Int8Scratch?

    public init(backend: GEMMBackend = .unmask, threads: Int = 1, compute: Compute = .fp32) {
        self.backend = backend
        self.threads = max(1, threads)
        self.compute = compute
        int8Scratch = compute == .int8 ? Int8Scratch() : nil
    }

    /// This MatMul with scratch of its own (for a model that may run beside others).
    public func withOwnScratch() -> MatMul { MatMul(backend: backend, threads: threads, compute: compute) }

    /// C = [C +] op(A)·op(B)
    public func gemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        switch backend {
        case .unmask:
            GEMM.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                       c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        case .openblas:
            OpenBLAS.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                           c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        }
    }

    /// C (m, n) = [C +] A (m, k) · W, for a weight W that is used on every call.
    /// Ours multiplies by W packed once (or, for a handful of rows, streams the raw W);
    /// OpenBLAS multiplies by the raw W (it has no pre-packed interface).
    public func linear(m: Int, a: UnsafePointer<Float>, lda: Int, weight: Weight,
                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool = false) {
        if compute == .int8, backend == .unmask, let q = weight.int8, let scratch = int8Scratch {
            Int8GEMM.linear(m: m, a: a, lda: lda, weight: q, c: c, ldc: ldc, accumulate: accumulate, threads: threads,
                            scratch: scratch)
            return
        }
        switch backend {
        case .unmask where m > GEMM.skinnyRows || weight.halfPanels:
            GEMM.gemmPacked(m: m, a: a, lda: lda, w: weight.packed, c: c, ldc: ldc, accumulate: accumulate,
                            threads: threads)
        case .unmask:
            // A few rows: stream the (in, out) weights; same summation order as the packed path.
            GEMM.sgemm(transA: false, transB: false, m: m, n: weight.cols, k: weight.rows, a: a, lda: lda,
                       b: weight.inOut, ldb: weight.cols, c: c, ldc: ldc, accumulate: accumulate, threads: threads)
        default:
            gemm(transA: false, transB: weight.transposed, m: m, n: weight.cols, k: weight.rows, a: a, lda: lda,
                 b: weight.raw, ldb: weight.transposed ? weight.rows : weight.cols, c: c, ldc: ldc, accumulate: accumulate)
        }
    }
}
