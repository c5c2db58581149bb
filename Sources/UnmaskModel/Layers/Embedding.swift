import UnmaskKernels

/// Token embedding (+ learned positions), forward and backward.
enum EmbeddingLayer {
    /// x (B·L, d) = E[ids] (+ P[row mod L]).  table: (V, d), F32 or widened a row at a
    /// time from F16/BF16 (exact); positions: (context, d).
    static func forward(ids: [Int], table: StoredMatrix, positions: UnsafePointer<Float>?,
                        x: UnsafeMutablePointer<Float>, length L: Int, d: Int, threads: Int) {
        ids.withUnsafeBufferPointer { idp in
            Parallel.rows(idp.count, width: d, threads: threads) { range in
                for r in range {
                    if let f32 = table.float32 {
                        (x + r * d).update(from: f32 + idp[r] * d, count: d)
                    } else {
                        table.widen(rows: idp[r]..<(idp[r] + 1), cols: 0..<d, into: x + r * d, ld: d)
                    }
                    if let positions {
                        let row = positions + (r % L) * d
                        for i in 0..<d { x[r * d + i] += row[i] }
                    }
                }
            }
        }
    }

    /// dTable[ids[r]] += dx[r] (and dPositions[r mod L] += dx[r]). Serial: ids repeat, and
    /// a fixed order keeps the sums the same for any thread count.
    static func backward(ids: [Int], dx: UnsafePointer<Float>, dTable: UnsafeMutablePointer<Float>,
                         dPositions: UnsafeMutablePointer<Float>?, length L: Int, d: Int) {
        for (r, id) in ids.enumerated() {
            for i in 0..<d { dTable[id * d + i] += dx[r * d + i] }
            if let dPositions { for i in 0..<d { dPositions[(r % L) * d + i] += dx[r * d + i] } }
        }
    }
}
