import CBF16GEMM

/// A weight W (in, out) rounded to BF16 and packed for the vdpbf16ps kernel (layout in
/// bf16_gemm.h). A weight stored in BF16 keeps its values exactly; F16 and F32 ones are
/// rounded to nearest even, once, here.
public final class BF16Weight: @unchecked Sendable {
    public let k: Int, n: Int
    let packed: UnsafeMutablePointer<UInt16>   // (⌈n/16⌉ panels, kp/2 pairs, 16 columns, 2 values)
    let elements: Int
    public var bytes: Int { 2 * elements }

    init(_ w: Weight) {
        k = w.rows
        n = w.cols
        elements = unmask_bf16_packed_weight_elements(Int32(k), Int32(n))
        packed = UnsafeMutableRawPointer.allocate(byteCount: max(2 * elements, 2), alignment: 64)
            .bindMemory(to: UInt16.self, capacity: max(elements, 1))
        repack(from: w)
    }

    /// Rounds and packs W from its stored form (`Weight.forEachF32ColumnChunk`: a BF16
    /// weight is never widened as a whole).
    func repack(from w: Weight) {
        w.forEachF32ColumnChunk { src, ld, transposed, columns in
            let status = unmask_bf16_pack_weight(src, Int32(ld), transposed ? 1 : 0, Int32(k), Int32(n),
                                                 Int32(columns.lowerBound), Int32(columns.count), packed)
            precondition(status == 0, "bf16 packing refused a \(k)x\(n) weight")
        }
    }

    deinit { UnsafeMutableRawPointer(packed).deallocate() }
}

/// Scratch for the BF16 activations, grown on demand and reused: one per MatMul that runs
/// bf16 (a forward never allocates once it has grown).
public final class BF16Scratch: @unchecked Sendable {
    var rows: UnsafeMutablePointer<UInt16>?   // (m, kp) A rounded to BF16
    var capacity = 0

    public init() {}

    func reserve(_ elements: Int) {
        guard elements > capacity else { return }
        rows?.deallocate()
        rows = .allocate(capacity: elements)
        capacity = elements
    }

    deinit { rows?.deallocate() }
}

public enum BF16GEMM {
    /// The vdpbf16ps kernel can run here (else the scalar reference does the same sums).
    public static let available: Bool = unmask_bf16_has_avx512bf16() != 0

    /// BF16 dot-product GFLOP/s over fp32 FMA GFLOP/s on one core, measured once per
    /// process by the register-resident loops (PeakRate); nil without AVX512_BF16.
    public static let measuredRates: (bf16: Double, fp32: Double)? = {
        guard available, let bf16 = PeakRate.bf16Dot(rounds: 3), let fp32 = PeakRate.fp32FMA(rounds: 3) else { return nil }
        return (bf16, fp32)
    }()

    /// `--compute bf16` runs only where the BF16 instruction is measured at least this much
    /// faster than fp32 FMA: below it, rounding the activations on every call eats the gain.
    public static let requiredSpeedup = 1.2

    /// C (m, n) = [C +] A (m, k) · W, A rounded to BF16 on the way. Rows are rounded over
    /// the threads, then the columns are split in whole 16-column panels; every C element
    /// is the same sum in the same order whatever the split (bf16_gemm.h).
    public static func linear(m: Int, a: UnsafePointer<Float>, lda: Int, weight w: BF16Weight,
                              c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, threads: Int,
                              scratch: BF16Scratch) {
        let kp = Int(unmask_bf16_padded_k(Int32(w.k)))
        scratch.reserve(m * kp)
        let q = scratch.rows!
        let rowThreads = m * w.k >= 65_536 ? threads : 1
        WorkerPool.shared.forEachRange(m, threads: rowThreads) { _, range in
            unmask_bf16_convert_rows(a + range.lowerBound * lda, Int32(lda), Int32(range.count), Int32(w.k),
                                     q + range.lowerBound * kp)
        }
        let panels = (w.n + 15) / 16
        let colThreads = 2 * Double(m) * Double(w.n) * Double(w.k) >= 2e6 ? threads : 1
        WorkerPool.shared.forEachRange(panels, threads: colThreads) { _, range in
            unmask_bf16_gemm(Int32(m), Int32(w.n), Int32(w.k), q, w.packed, c, Int32(ldc), accumulate ? 1 : 0,
                             Int32(range.lowerBound * 16), Int32(min(w.n, range.upperBound * 16)))
        }
    }

    /// The same product by the portable scalar reference (bit-identical by contract): for tests.
    public static func referenceLinear(m: Int, a: UnsafePointer<Float>, lda: Int, weight w: BF16Weight,
                                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        let kp = Int(unmask_bf16_padded_k(Int32(w.k)))
        let q = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, m * kp))
        defer { q.deallocate() }
        unmask_bf16_convert_rows_reference(a, Int32(lda), Int32(m), Int32(w.k), q)
        unmask_bf16_gemm_reference(Int32(m), Int32(w.n), Int32(w.k), q, w.packed, c, Int32(ldc), accumulate ? 1 : 0,
                                   0, Int32(w.n))
    }

    /// x rounded to BF16 as the kernel rounds it (bits), for tests.
    public static func round(_ x: Float) -> UInt16 { unmask_bf16_round(x) }

    /// Rows of A rounded by the kernel's path and by the reference, for tests: (m, kp) each.
    public static func convertedRows(_ a: [Float], m: Int, k: Int, reference: Bool) -> [UInt16] {
        let kp = Int(unmask_bf16_padded_k(Int32(k)))
        var out = [UInt16](repeating: 0xFFFF, count: m * kp)
        a.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                if reference {
                    unmask_bf16_convert_rows_reference(src.baseAddress!, Int32(k), Int32(m), Int32(k), dst.baseAddress!)
                } else {
                    unmask_bf16_convert_rows(src.baseAddress!, Int32(k), Int32(m), Int32(k), dst.baseAddress!)
                }
            }
        }
        return out
    }
}
