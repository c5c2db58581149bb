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

/// A weight matrix W (rows = in, cols = out) as the model multiplies by it: the values as
/// stored (usually inside the mapped file, F32, F16 or BF16, (in, out) or PyTorch's
/// (out, in), possibly in parts) and the copies the products use, each made on first use:
///  * `packed`, our fp32 panels (4 bytes per parameter);
///  * `int8`, the quantized panels (`prepareInt8`, 1 byte per parameter);
///  * `raw`, W as F32 in its storage orientation (`transposed` says which), for OpenBLAS
///    and the backward pass: the stored pointer itself when that is F32 in one piece;
///  * `inOut`, W as F32 (in, out), for the few-rows path.
/// So a model that runs only on the int8 path never pays for the fp32 copies, and one
/// stored in BF16 is widened a panel at a time while it is packed, never as a whole.
/// Models are used from one thread at a time (see Transformer), so the lazy fills need no
/// lock.
public final class Weight: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    public let storage: WeightStorage
    /// The storage is (out, in): PyTorch's Linear layout, or a tied embedding table (vocab, d)
    /// used as W = Eᵀ.
    public var transposed: Bool { if case .outIn = storage { return true } else { return false } }

    /// The fp32 panels keep the values in BF16 when they are stored so (exact; half the
    /// memory) and the AVX-512 kernel, which widens them in registers, runs. Such a weight
    /// multiplies every row count through the panels (no F32 copy for the few-rows path;
    /// the sums are in the same order, so the results are the same).
    public let halfPanels: Bool

    public var packed: PackedMatrix {
        if let p = packedStorage { return p }
        let p = PackedMatrix(k: rows, n: cols, halfPanels: halfPanels)
        p.pack(from: storage)
        packedStorage = p
        releaseStoredPages()
        return p
    }
    private var packedStorage: PackedMatrix?

    /// W as F32 in its storage orientation: (cols, rows) when `transposed`, else (rows, cols).
    public var raw: UnsafePointer<Float> {
        if let p = rawPointer { return p }
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        widenStorage(into: copy)
        rawCopy = copy
        rawPointer = UnsafePointer(copy)
        return UnsafePointer(copy)
    }
    private var rawPointer: UnsafePointer<Float>?
    private var rawCopy: UnsafeMutablePointer<Float>?

    /// W laid out (in, out) for the few-rows path: `raw` itself, or a transposed copy when
    /// the storage is (out, in). The copy makes the few-rows path sum in the same order as
    /// the packed one, so a row's result does not depend on how many rows came with it.
    public var inOut: UnsafePointer<Float> {
        if !transposed { return raw }
        if let p = inOutCopy { return UnsafePointer(p) }
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: rows * cols)
        transposeStorage(into: copy)
        inOutCopy = copy
        return UnsafePointer(copy)
    }
    private var inOutCopy: UnsafeMutablePointer<Float>?

    /// The int8 copy, when the int8 path will use this weight (`prepareInt8`).
    public private(set) var int8: Int8Weight?

    /// Quantizes and packs the int8 copy (once; `refresh` keeps it current).
    public func prepareInt8() {
        if int8 == nil {
            int8 = Int8Weight(self)
            releaseStoredPages()
        }
    }

    /// An F32 weight in memory: (rows, cols), or (cols, rows) when `transposed`.
    public convenience init(rows: Int, cols: Int, raw: UnsafePointer<Float>, transposed: Bool = false) {
        self.init(rows: rows, cols: cols, storage: transposed ? .outIn([StoredMatrix(f32: raw, rows: cols, cols: rows)])
                                                             : .inOut(StoredMatrix(f32: raw, rows: rows, cols: cols)))
    }

    public init(rows: Int, cols: Int, storage: WeightStorage) {
        self.rows = rows
        self.cols = cols
        self.storage = storage
        let parts: [StoredMatrix]
        switch storage {
        case .inOut(let m): parts = [m]
        case .outIn(let ms): parts = ms
        }
        halfPanels = MicroKernel.selected == .avx512 && parts.allSatisfy { $0.element == .bf16 }
        switch storage {
        case .inOut(let m):
            precondition(m.rows == rows && m.cols == cols, "weight storage \(m.rows)x\(m.cols) for a \(rows)x\(cols) weight")
            rawPointer = m.float32
        case .outIn(let parts):
            precondition(parts.allSatisfy { $0.cols == rows } && parts.reduce(0) { $0 + $1.rows } == cols,
                         "weight parts do not stack to \(cols)x\(rows)")
            rawPointer = parts.count == 1 ? parts[0].float32 : nil
        }
    }

    /// Re-reads the storage after its values changed (a training step): every copy that
    /// exists is made again. The shapes and pointers stay.
    public func refresh() {
        if let copy = rawCopy { widenStorage(into: copy) }
        packedStorage?.pack(from: storage)
        int8?.repack(from: self)
        if let copy = inOutCopy { transposeStorage(into: copy) }
    }

    /// Output columns j0..<j1 of an (out, in) storage in parts as F32 rows, (j1 − j0, k),
    /// taken from whichever parts hold them.
    static func widenColumns(_ parts: [StoredMatrix], k: Int, _ columns: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        var offset = 0
        for part in parts {
            let lo = max(columns.lowerBound, offset), hi = min(columns.upperBound, offset + part.rows)
            if lo < hi {
                part.widen(rows: (lo - offset)..<(hi - offset), cols: 0..<k, into: dst + (lo - columns.lowerBound) * k, ld: k)
            }
            offset += part.rows
        }
    }

    func widenColumns(_ columns: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard case .outIn(let parts) = storage else { preconditionFailure("widenColumns on an (in, out) weight") }
        Weight.widenColumns(parts, k: rows, columns, into: dst)
    }

    private func widenStorage(into dst: UnsafeMutablePointer<Float>) {
        switch storage {
        case .inOut(let m): m.widen(rows: 0..<rows, cols: 0..<cols, into: dst, ld: cols)
        case .outIn: widenColumns(0..<cols, into: dst)
        }
    }

    private func transposeStorage(into dst: UnsafeMutablePointer<Float>) {
        let chunk = 64
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunk * rows)
        defer { scratch.deallocate() }
        var j0 = 0
        while j0 < cols {
            let cw = min(chunk, cols - j0)
            widenColumns(j0..<(j0 + cw), into: scratch)
            for r in 0..<rows { for j in 0..<cw { dst[r * cols + j0 + j] = scratch[j * rows + r] } }
            j0 += cw
        }
    }

    /// Once the products' copies exist, the stored pages of a mapped file are not needed in
    /// memory (they are re-read from the file should `raw` be wanted later).
    private func releaseStoredPages() {
        guard rawPointer == nil || rawCopy != nil else { return }  // `raw` points into the storage: keep it resident
        switch storage {
        case .inOut(let m): m.releasePages()
        case .outIn(let parts): for p in parts { p.releasePages() }
        }
    }

    deinit {
        rawCopy?.deallocate()
        inOutCopy?.deallocate()
    }
}
