/// A binary min-heap: the one priority queue of the tokenizer (the encoder's merge
/// candidates, the trainer's pair counts). Same module as its users, so the optimiser
/// specialises it for their element types: the encoder's UInt64 entries compare as plain
/// integers, which is what keeps encoding at its measured speed.
struct BinaryHeap<Element: Comparable> {
    private(set) var items: [Element] = []

    var isEmpty: Bool { items.isEmpty }

    /// Empties the heap, keeping its storage for reuse (no allocation in hot loops).
    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    @inline(__always)
    mutating func push(_ v: Element) {
        items.append(v)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if !(v < items[p]) { break }
            items[c] = items[p]
            c = p
        }
        items[c] = v
    }

    /// The smallest element, removed; nil when empty.
    @inline(__always)
    mutating func pop() -> Element? {
        guard let last = items.popLast() else { return nil }
        if items.isEmpty { return last }
        let top = items[0]
        let count = items.count
        var c = 0
        while true {
            let l = 2 * c + 1
            if l >= count { break }
            let r = l + 1
            let m = (r < count && items[r] < items[l]) ? r : l
            if !(items[m] < last) { break }
            items[c] = items[m]
            c = m
        }
        items[c] = last
        return top
    }
}
