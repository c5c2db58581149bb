#if canImport(Glibc)
import Glibc
#endif

/// A progress bar on stderr, for anything longer than a couple of seconds. It draws only
/// when stderr is a terminal and only after 2 s, redrawing in place at most 10 times a
/// second; `finish()` erases it. Piped or redirected output never sees it.
public final class ProgressBar {
    let label: String
    let total: Int
    let start = monotonicSeconds()
    var lastDraw = 0.0
    var drawn = false
    let enabled: Bool

    public init(_ label: String, total: Int) {
        self.label = label
        self.total = max(1, total)
        enabled = isatty(2) != 0
    }

    public func update(_ done: Int) {
        guard enabled else { return }
        let now = monotonicSeconds()
        guard now - start >= 2, now - lastDraw >= 0.1 || done >= total else { return }
        lastDraw = now
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let elapsed = now - start
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        fputs("\r\u{1B}[K\(label) \(bar) \(Int(fraction * 100))%  \(done)/\(total)  ETA \(Int(eta))s", stderr)
        fflush(stderr)
        drawn = true
    }

    public func finish() {
        if drawn { fputs("\r\u{1B}[K", stderr); fflush(stderr) }
    }
}
