import UnmaskKernels

/// Token embedding (+ learned positions), forward and backward.
enum EmbeddingLayer {
    /// x (B·L, d) = E[ids] (+ P[row mod L]).  table: (V, d); positions: (context, d).
    static func forward(ids: [Int], table: UnsafePointer<Float>, positions: UnsafePointer<Float>?,
                        x: UnsafeMutablePointer<Float>, length L: Int, d: Int, threads: Int) {
        ids.withUnsafeBufferPointer { idp in
            Parallel.rows(idp.count, width: d, threads: threads) { range in
                for r in range {
                    (x + r * d).update(from: table + idp[r] * d, count: d)
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
