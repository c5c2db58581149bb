import CInt8GEMM

/// A weight W (in, out) quantized for the int8 path: int8 per output column with its
/// scale, packed for the VNNI kernel (layout in int8_gemm.h), plus the column sums the
/// kernel's unsigned-offset correction needs.
public final class Int8Weight: @unchecked Sendable {
    public let k: Int, n: Int
    let packed: UnsafeMutablePointer<Int8>     // (⌈n/16⌉ panels, k/4 groups, 16 columns, 4 bytes)
    let scales: UnsafeMutablePointer<Float>    // (n)
    let colsums: UnsafeMutablePointer<Int32>   // (n)
    let bytes: Int

    init(_ w: Weight) {
        k = w.rows
        n = w.cols
        bytes = unmask_int8_packed_weight_bytes(Int32(k), Int32(n))
        packed = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64).bindMemory(to: Int8.self, capacity: max(bytes, 1))
        scales = .allocate(capacity: n)
        colsums = .allocate(capacity: n)
        repack(from: w)
    }

    /// Quantizes and packs W from its stored form (`Weight.forEachF32ColumnChunk`):
    /// quantization is per column, so packing 256 widened columns at a time gives the same
    /// result, and a BF16 weight is never widened as a whole.
    func repack(from w: Weight) {
        // Panel t (columns 16t ...) starts at byte 16t·kp: column j0 = 16t at j0·kp.
        let kp = Int(unmask_int8_padded_k(Int32(k)))
        w.forEachF32ColumnChunk { src, ld, transposed, columns in
            let j0 = columns.lowerBound
            let status = unmask_int8_pack_weight(src, Int32(ld), transposed ? 1 : 0, Int32(k), Int32(columns.count),
                                                 packed + j0 * kp, scales + j0, colsums + j0)
            precondition(status == 0, "int8 packing refused a \(k)x\(n) weight (k is limited to \(UNMASK_INT8_MAX_K))")
        }
    }

    deinit {
        UnsafeMutableRawPointer(packed).deallocate()
        scales.deallocate()
        colsums.deallocate()
    }
}

/// Scratch for the quantized activations, grown on demand and reused: one per MatMul
/// that runs int8 (a forward never allocates once it has grown).
public final class Int8Scratch: @unchecked Sendable {
    var rows: UnsafeMutablePointer<UInt8>?   // (m, kp) quantized rows of A, +128 offset
    var scales: UnsafeMutablePointer<Float>? // (m) their scales
    var capacityBytes = 0, capacityRows = 0

    public init() {}

    func reserve(m: Int, kp: Int) {
        if m * kp > capacityBytes {
            rows?.deallocate()
            rows = .allocate(capacity: m * kp)
            capacityBytes = m * kp
        }
        if m > capacityRows {
            scales?.deallocate()
            scales = .allocate(capacity: m)
            capacityRows = m
        }
    }

    deinit {
        rows?.deallocate()
        scales?.deallocate()
    }
}

public enum Int8GEMM {
    /// The VNNI kernel can run here.
    public static let available: Bool = unmask_int8_has_vnni() != 0

    /// C (m, n) = [C +] A (m, k) · W, A quantized per row on the way. Rows are quantized
    /// over the threads, then the columns are split in whole 16-column panels. Every C
    /// element is the same integer sum and the same two float multiplies whatever the
    /// split, so the result does not depend on the thread count.
    public static func linear(m: Int, a: UnsafePointer<Float>, lda: Int, weight w: Int8Weight,
                              c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, threads: Int, scratch: Int8Scratch) {
        let kp = Int(unmask_int8_padded_k(Int32(w.k)))
        scratch.reserve(m: m, kp: kp)
        let q = scratch.rows!, s = scratch.scales!
        // Quantizing is ~0.25 ns per element: spread it only when it is worth a hand-off.
        let rowThreads = m * w.k >= 65_536 ? threads : 1
        WorkerPool.shared.forEachRange(m, threads: rowThreads) { _, range in
            unmask_int8_quantize_rows(a + range.lowerBound * lda, Int32(lda), Int32(range.count), Int32(w.k),
                                      q + range.lowerBound * kp, s + range.lowerBound)
        }
        let panels = (w.n + 15) / 16
        let colThreads = 2 * Double(m) * Double(w.n) * Double(w.k) >= 2e6 ? threads : 1
        WorkerPool.shared.forEachRange(panels, threads: colThreads) { _, range in
            unmask_int8_gemm(Int32(m), Int32(w.n), Int32(w.k), q, s, w.packed, w.scales, w.colsums, c, Int32(ldc),
                             accumulate ? 1 : 0, Int32(range.lowerBound * 16), Int32(min(w.n, range.upperBound * 16)))
        }
    }

    /// The same product by the portable scalar reference (bit-identical by contract): for
    /// tests.
    public static func referenceLinear(m: Int, a: UnsafePointer<Float>, lda: Int, weight w: Int8Weight,
                                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        let kp = Int(unmask_int8_padded_k(Int32(w.k)))
        let q = UnsafeMutablePointer<UInt8>.allocate(capacity: m * kp), s = UnsafeMutablePointer<Float>.allocate(capacity: m)
        defer { q.deallocate(); s.deallocate() }
        unmask_int8_quantize_rows_reference(a, Int32(lda), Int32(m), Int32(w.k), q, s)
        unmask_int8_gemm_reference(Int32(m), Int32(w.n), Int32(w.k), q, s, w.packed, w.scales, w.colsums, c, Int32(ldc),
                                   accumulate ? 1 : 0, 0, Int32(w.n))
    }
}
