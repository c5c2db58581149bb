// A weight matrix as the model multiplies by it, and the memory that costs.
//
// The stored values are read where they lie: inside the mapped safetensors file (F32, F16
// or BF16; (in, out), or PyTorch's (out, in), possibly split in parts) or, in training,
// inside the parameter buffer. Every product path wants its own form of W, and each form
// is made the first time a product asks for it, never before:
//
//   form      made by                          bytes / parameter   used by
//   packed    `packed`, a panel at a time      4 (2: BF16 panels)  our GEMM, more than a few rows
//   int8      `prepareInt8`                    1                   the int8 path (block weights, head)
//   bf16      `prepareBF16`                    2                   the bf16 path (block weights, head)
//   raw       `raw`: the stored pointer when   0 or 4              OpenBLAS, the backward pass
//             it is F32 in one piece, else a
//             widened copy
//   inOut     `inOut`: `raw`, or a transposed  0 or 4              our few-rows path
//             copy of an (out, in) storage
//
// So a model that runs only on the int8 path never pays for the fp32 forms, and a BF16
// checkpoint is widened a panel at a time while it is packed, never as a whole.
//
// Page release: once the packed or int8 form exists, the stored pages of a mapped file are
// dropped from memory (`releaseStoredPages`, madvise): a large model's resident memory is
// then its packed forms alone, and the kernel re-reads the file should `raw` be wanted
// later. Pages are kept when `raw` points into the storage (F32 in one piece, in memory or
// mapped), since then they are the F32 form itself; heap storage is never released
// (`StoredMatrix.mapped`).
//
// Refresh: training updates the parameter buffer in place, and `refresh` then re-derives,
// in place, every form that exists; the pointers stay valid and forms not yet made stay
// unmade.
//
// Concurrency: the forms are filled lazily without a lock. A model is used from one thread
// at a time (see Transformer), and its products' worker threads only read forms that the
// calling thread made before handing out the work.

/// A weight matrix W (rows = in, cols = out): its stored values and the forms the products
/// use, each made on first use (see the top of this file).
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

    /// The BF16 copy, when the bf16 path will use this weight (`prepareBF16`).
    public private(set) var bf16: BF16Weight?

    /// Rounds and packs the BF16 copy (once; `refresh` keeps it current).
    public func prepareBF16() {
        if bf16 == nil {
            bf16 = BF16Weight(self)
            releaseStoredPages()
        }
    }

    /// Frees the int8 and bf16 copies that `compute` does not read (a model whose compute
    /// changes keeps one reduced copy, not one per compute it ever had).
    public func releaseCopies(keeping compute: Compute) {
        if compute != .int8 { int8 = nil }
        if compute != .bf16 { bf16 = nil }
    }

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
        bf16?.repack(from: self)
        if let copy = inOutCopy { transposeStorage(into: copy) }
    }

    /// Hands W to `body` as F32, for a form made column by column (int8, bf16): F32 in one
    /// piece in place, in one call; otherwise `chunk` output columns at a time (a multiple
    /// of 16, the panel width) widened into a scratch, exactly, so a BF16 weight is never
    /// widened as a whole. `body(src, ld, transposed, columns)`: element (p, j) of those
    /// columns is src[p * ld + j − columns.lowerBound], or src[(j − columns.lowerBound) * ld + p]
    /// when `transposed`.
    func forEachF32ColumnChunk(chunk: Int = 256,
                               _ body: (_ src: UnsafePointer<Float>, _ ld: Int, _ transposed: Bool, _ columns: Range<Int>) -> Void) {
        let k = rows, n = cols
        switch storage {
        case .inOut(let m) where m.float32 != nil:
            body(m.float32!, n, false, 0..<n)
        case .outIn(let parts) where parts.count == 1 && parts[0].float32 != nil:
            body(parts[0].float32!, k, true, 0..<n)
        case .inOut(let m):
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: k * min(chunk, n))  // (k, columns)
            defer { scratch.deallocate() }
            for j0 in stride(from: 0, to: n, by: chunk) {
                let cw = min(chunk, n - j0)
                m.widen(rows: 0..<k, cols: j0..<(j0 + cw), into: scratch, ld: cw)
                body(scratch, cw, false, j0..<(j0 + cw))
            }
        case .outIn:
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: k * min(chunk, n))  // (columns, k)
            defer { scratch.deallocate() }
            for j0 in stride(from: 0, to: n, by: chunk) {
                let cw = min(chunk, n - j0)
                widenColumns(j0..<(j0 + cw), into: scratch)
                body(scratch, k, true, j0..<(j0 + cw))
            }
        }
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
