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
        case .unmask where m > GEMM.skinnyRows:
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

/// A weight matrix W (rows = in, cols = out) as the model multiplies by it: the raw
/// values (usually inside the mmapped file) and our packed copy. `transposed` means the
/// raw storage is (out, in) — a tied embedding table (vocab, d) used as W = Eᵀ.
public final class Weight: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let raw: UnsafePointer<Float>
    public let transposed: Bool
    /// Our packed copy, made on first use: a model that multiplies a weight only on the
    /// int8 path, or only through OpenBLAS, never pays its memory (4 bytes per parameter).
    /// Models are used from one thread at a time (see Transformer), so the lazy fill needs
    /// no lock.
    public var packed: PackedMatrix {
        if let p = packedStorage { return p }
        let p = PackedMatrix(k: rows, n: cols, source: raw, ld: transposed ? rows : cols, transposed: transposed)
        packedStorage = p
        return p
    }
    private var packedStorage: PackedMatrix?
    /// W laid out (in, out) for the few-rows path: `raw` itself, or a transposed copy when
    /// the raw storage is (out, in). The copy makes the few-rows path sum in the same order
    /// as the packed one, so a row's result does not depend on how many rows came with it.
    public let inOut: UnsafePointer<Float>
    private let ownedCopy: UnsafeMutablePointer<Float>?
    /// The int8 copy, when the int8 path will use this weight (`prepareInt8`).
    public private(set) var int8: Int8Weight?

    /// Quantizes and packs the int8 copy (once; `refresh` keeps it current).
    public func prepareInt8() {
        if int8 == nil { int8 = Int8Weight(self) }
    }

    public init(rows: Int, cols: Int, raw: UnsafePointer<Float>, transposed: Bool = false) {
        self.rows = rows
        self.cols = cols
        self.raw = raw
        self.transposed = transposed
        if transposed {
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
            ownedCopy = copy
            inOut = UnsafePointer(copy)
        } else {
            ownedCopy = nil
            inOut = raw
        }
        refreshCopies(packing: false)
    }

    /// Re-reads `raw` after its values changed (a training step): repacks, and refreshes
    /// the transposed copy. The shapes and pointers stay.
    public func refresh() { refreshCopies(packing: true) }

    private func refreshCopies(packing: Bool) {
        if packing {
            packedStorage?.repack(from: raw, ld: transposed ? rows : cols, transposed: transposed)
            int8?.repack(from: self)
        }
        if let copy = ownedCopy {
            for r in 0..<rows { for c in 0..<cols { copy[r * cols + c] = raw[c * rows + r] } }
        }
    }

    deinit { ownedCopy?.deallocate() }
}
