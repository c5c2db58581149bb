import UnmaskSupport

/// The token windows a which-file classifier is trained and tested on: one file's tokens
/// cut into consecutive windows of `window` tokens (a partial last window is dropped),
/// the last 1/`heldOutFraction` of the tokens held out (the split `train` uses), and of the
/// training windows all, or the even or odd ones (two classifiers trained on different
/// halves, one to steer by and one to check with).
public struct ClassifierWindows {
    public enum Half: String, Sendable, CaseIterable { case all, even, odd }

    /// Training windows (window tokens each).
    public let training: [[Int]]
    /// Held-out windows (window tokens each).
    public let heldOut: [[Int]]

    /// `name` is what an error calls the file.
    public init(tokens ids: [Int], window: Int, half: Half, heldOutFraction: Int, name: String) throws {
        guard window >= 1, heldOutFraction >= 2 else { throw UnmaskError("internal: window \(window), held-out fraction 1/\(heldOutFraction)") }
        let cut = ids.count - ids.count / heldOutFraction
        func windows(_ part: ArraySlice<Int>) -> [[Int]] {
            stride(from: part.startIndex, to: part.endIndex - window + 1, by: window).map { Array(part[$0..<($0 + window)]) }
        }
        training = windows(ids[..<cut]).enumerated().filter { half == .all || ($0.offset % 2 == 0) == (half == .even) }.map(\.element)
        heldOut = windows(ids[cut...])
        guard !training.isEmpty, !heldOut.isEmpty else {
            throw UnmaskError("\(name) is too short: it needs at least \(2 * heldOutFraction * window) tokens for a training and a held-out window")
        }
    }
}
