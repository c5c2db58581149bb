// Packing: copying blocks of A and B into the order the micro-kernel reads them, with
// zero padding past the matrix edges so the kernel never needs an edge case.
// O(mk + kn) work against O(mnk) for the product; it also absorbs the transposes.

/// Packs op(A)[i0 ..< i0+mcb, p0 ..< p0+kcb] into MR-row slivers: (slivers, kcb, MR).
@inline(__always)
func packA(transA: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, mcb: Int, p0: Int, kcb: Int,
           mr: Int, into dst: UnsafeMutablePointer<Float>) {
    let slivers = (mcb + mr - 1) / mr
    if transA {
        // A stored (k, m): row p0+p holds op(A)'s column p, MR values per sliver side by
        // side. One pass down k reads each row's mcb values sequentially and hands MR of
        // them to every sliver. (Sliver by sliver instead, each 48-byte piece came from a
        // row lda floats below the last, up to 512 rows, re-fetched for the next sliver:
        // 7% of a 1-thread training step in perf, nearly all of it waiting on those loads.)
        let full = mcb / mr
        for p in 0..<kcb {
            let src = a + (p0 + p) * lda + i0
            var s = 0
            if mr == 12 {
                while s < full {
                    let from = UnsafeRawPointer(src + s * 12)
                    let to = UnsafeMutableRawPointer(dst + s * kcb * 12 + p * 12)
                    to.storeBytes(of: from.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    to.storeBytes(of: from.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self),
                                  toByteOffset: 32, as: SIMD4<Float>.self)
                    s += 1
                }
            }
            while s < slivers {
                let rows = min(mr, mcb - s * mr)
                let out = dst + s * kcb * mr + p * mr
                for ii in 0..<rows { out[ii] = src[s * mr + ii] }
                for ii in rows..<mr { out[ii] = 0 }
                s += 1
            }
        }
        return
    }
    // A stored (m, k): read each row sequentially, scatter it down the sliver.
    var out = dst
    for sliver in 0..<slivers {
        let r = sliver * mr
        let rows = min(mr, mcb - r)
        for ii in 0..<rows {
            let src = a + (i0 + r + ii) * lda + p0
            for p in 0..<kcb { out[p * mr + ii] = src[p] }
        }
        for ii in rows..<mr {
            for p in 0..<kcb { out[p * mr + ii] = 0 }
        }
        out += kcb * mr
    }
}

/// Packs op(B)[p0 ..< p0+kcb, j0 ..< j1] into NR-column slivers: (slivers, kcb, NR).
@inline(__always)
func packB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, kcb: Int, j0: Int, j1: Int, nr: Int,
           into dst: UnsafeMutablePointer<Float>) {
    let slivers = (j1 - j0 + nr - 1) / nr
    let fullSlivers = (j1 - j0) / nr
    if !transB {
        // B stored (k, n). Row by row, so reads are sequential; each row is cut into
        // NR-wide pieces that go to consecutive slivers (16-float SIMD copies).
        for p in 0..<kcb {
            let src = UnsafeRawPointer(b + (p0 + p) * ldb + j0)
            for s in 0..<fullSlivers {
                let out = UnsafeMutableRawPointer(dst + s * kcb * nr + p * nr)
                var q = 0
                while q < nr {
                    out.storeBytes(of: src.loadUnaligned(fromByteOffset: (s * nr + q) * 4, as: SIMD16<Float>.self),
                                   toByteOffset: q * 4, as: SIMD16<Float>.self)
                    q += 16
                }
            }
        }
        if fullSlivers < slivers {
            let cols = (j1 - j0) - fullSlivers * nr
            let out = dst + fullSlivers * kcb * nr
            for p in 0..<kcb {
                let src = b + (p0 + p) * ldb + j0 + fullSlivers * nr
                (out + p * nr).update(from: src, count: cols)
                (out + p * nr + cols).update(repeating: 0, count: nr - cols)
            }
        }
    } else {
        // B stored (n, k): each column's k run is contiguous. The sliver (kcb, NR) is
        // filled 16 k-rows at a time, so the 16·NR floats being written stay in L1 while
        // all NR columns visit them. (Column by column over the whole kcb, every column
        // pass swept the full 64 KB sliver, which L1 cannot hold.)
        for s in 0..<slivers {
            let out = dst + s * kcb * nr
            let j = j0 + s * nr
            let cols = min(nr, j1 - j)
            var pc = 0
            while pc < kcb {
                let pEnd = min(kcb, pc + 16)
                for jj in 0..<cols {
                    let src = b + (j + jj) * ldb + p0
                    for p in pc..<pEnd { out[p * nr + jj] = src[p] }
                }
                pc = pEnd
            }
            if cols < nr {
                for p in 0..<kcb { (out + p * nr + cols).update(repeating: 0, count: nr - cols) }
            }
        }
    }
}

/// A (k, n) right-hand operand packed once for `GEMM.gemmPacked`, e.g. a weight matrix.
/// Layout: for each k-block of KC rows, for each NR-column sliver, (kcb, NR) floats;
/// block p0 starts at p0 * slivers * NR. Columns past n are zero.
public final class PackedMatrix: @unchecked Sendable {
    public let rows: Int   // k
    public let cols: Int   // n
    public let kernel: MicroKernel
    let slivers: Int
    let data: UnsafeMutablePointer<Float>
    /// The same panels in BF16, in place of `data` (then a single float), for a weight
    /// stored in BF16: the values are BF16 already, so keeping them so is exact and halves
    /// the memory (an 8 B model's panels: 16 GB, not 32). The AVX-512 kernels widen each
    /// row in registers and compute exactly as on F32 panels. Each 32-column row is stored
    /// with columns i and 16 + i side by side (see BF16Panel in the kernel).
    let halves: UnsafeMutablePointer<UInt16>?

    /// Packs B (k, n), or Bᵀ when `transposed` (the source is stored (n, k), e.g. a tied
    /// embedding table (vocab, d) used as the output projection).
    public init(k: Int, n: Int, source: UnsafePointer<Float>, ld: Int, transposed: Bool = false,
                kernel: MicroKernel = .selected) {
        rows = k
        cols = n
        self.kernel = kernel
        slivers = (n + kernel.nr - 1) / kernel.nr
        data = alignedFloats(max(1, k * slivers * kernel.nr))
        halves = nil
        repack(from: source, ld: ld, transposed: transposed)
    }

    /// Room for a (k, n) operand, filled by `pack(from:)`; in BF16 when `halfPanels` (for
    /// BF16 storage, with the AVX-512 kernel only).
    public init(k: Int, n: Int, kernel: MicroKernel = .selected, halfPanels: Bool = false) {
        precondition(!halfPanels || kernel == .avx512, "BF16 panels need the AVX-512 kernel")
        rows = k
        cols = n
        self.kernel = kernel
        slivers = (n + kernel.nr - 1) / kernel.nr
        let count = max(1, k * slivers * kernel.nr)
        data = alignedFloats(halfPanels ? 1 : count)
        halves = halfPanels
            ? UnsafeMutableRawPointer.allocate(byteCount: 2 * count, alignment: 64).bindMemory(to: UInt16.self, capacity: count)
            : nil
    }


    /// Packs a weight from its stored form. F32 in one piece is packed in place; F16/BF16,
    /// or (out, in) parts, are widened into a small scratch a block at a time — one k-block
    /// of all columns, or 256 output columns of all k — and packed from there. Widening is
    /// exact, so the panels are the same as from a whole F32 copy, which is never made.
    public func pack(from storage: WeightStorage) {
        let nr = kernel.nr, kc = GEMMBlocking.kc
        // Panels go to `data`, or, in BF16 mode, through an F32 staging block that is then
        // narrowed (exactly: the values came from BF16) into `halves` at the same offset.
        let staging = halves == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: min(kc, rows) * max(slivers * nr, 256))
        defer { staging?.deallocate() }
        func emit(at offset: Int, count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) {
            guard let staging, let halves else { return fill(data + offset) }
            fill(staging)
            // Each 32-column row of a sliver is stored as 16 words: column i in the low half
            // of word i, column 16 + i in its high half (the layout the BF16 kernel reads).
            for row in stride(from: 0, to: count, by: nr) {
                for i in 0..<(nr / 2) {
                    halves[offset + row + 2 * i] = UInt16(truncatingIfNeeded: staging[row + i].bitPattern >> 16)
                    halves[offset + row + 2 * i + 1] = UInt16(truncatingIfNeeded: staging[row + nr / 2 + i].bitPattern >> 16)
                }
            }
        }
        switch storage {
        case .inOut(let m):
            if halves == nil, let f = m.float32 { repack(from: f, ld: cols); return }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: min(kc, rows) * cols)  // (kcb, n)
            defer { scratch.deallocate() }
            var p0 = 0
            while p0 < rows {
                let kcb = min(kc, rows - p0)
                m.widen(rows: p0..<(p0 + kcb), cols: 0..<cols, into: scratch, ld: cols)
                emit(at: p0 * slivers * nr, count: kcb * slivers * nr) {
                    packB(transB: false, b: scratch, ldb: cols, p0: 0, kcb: kcb, j0: 0, j1: cols, nr: nr, into: $0)
                }
                p0 += kcb
            }
        case .outIn(let parts):
            if halves == nil, parts.count == 1, let f = parts[0].float32 { repack(from: f, ld: rows, transposed: true); return }
            let chunk = nr * max(1, 256 / nr)
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: min(chunk, cols) * rows)  // (columns, k)
            defer { scratch.deallocate() }
            var j0 = 0
            while j0 < cols {
                let cw = min(chunk, cols - j0)
                Weight.widenColumns(parts, k: rows, j0..<(j0 + cw), into: scratch)
                var p0 = 0
                while p0 < rows {
                    let kcb = min(kc, rows - p0)
                    // Block p0 starts at p0·slivers·NR; sliver s of it at s·kcb·NR.
                    emit(at: p0 * slivers * nr + (j0 / nr) * kcb * nr, count: kcb * ((cw + nr - 1) / nr) * nr) {
                        packB(transB: true, b: scratch, ldb: rows, p0: p0, kcb: kcb, j0: 0, j1: cw, nr: nr, into: $0)
                    }
                    p0 += kcb
                }
                j0 += cw
            }
        }
    }

    /// Packs new values of the same-shaped B into this matrix's memory: training updates
    /// the weights in place every step, and the one forward pass multiplies by them packed.
    public func repack(from source: UnsafePointer<Float>, ld: Int, transposed: Bool = false) {
        precondition(halves == nil, "repack writes F32 panels")
        var p0 = 0
        while p0 < rows {
            let kcb = min(GEMMBlocking.kc, rows - p0)
            packB(transB: transposed, b: source, ldb: ld, p0: p0, kcb: kcb, j0: 0, j1: cols, nr: kernel.nr,
                  into: data + p0 * slivers * kernel.nr)
            p0 += kcb
        }
    }

    deinit {
        UnsafeMutableRawPointer(data).deallocate()
        halves.map { UnsafeMutableRawPointer($0).deallocate() }
    }
}
