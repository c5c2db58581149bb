import UnmaskKernels

/// Row-parallel loops for the layers. Every row is computed by the same code whichever
/// worker takes it, and rows write disjoint memory, so results are bit-identical for any
/// thread count.
enum Parallel {
    /// Below this many floats of work a hand-off to the workers (a few µs) costs more than
    /// it saves: the loop runs on the calling thread.
    static let minimumFloats = 16_384

    /// body(rows) over contiguous ranges of 0..<count, one per thread; `width` is the
    /// floats of work per row, to decide whether spreading is worth it.
    @inline(__always)
    static func rows(_ count: Int, width: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let t = count * width < minimumFloats ? 1 : threads
        WorkerPool.shared.forEachRange(count, threads: t) { _, range in body(range) }
    }

    /// body(range) over 0..<count floats cut at multiples of 16 (whole vectors), for
    /// element-wise work where any split gives the same result.
    @inline(__always)
    static func chunks(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let vectors = (count + 15) / 16
        let t = count < minimumFloats ? 1 : threads
        WorkerPool.shared.forEachRange(vectors, threads: t) { _, range in
            body((range.lowerBound * 16)..<min(count, range.upperBound * 16))
        }
    }
}
