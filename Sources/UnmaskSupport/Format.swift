/// Fixed-point formatting without Foundation: `fixed(3.14159, 2) == "3.14"`.
public func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let negative = x < 0
    let scaled = (abs(x) * scale).rounded()
    guard scaled < 9e18 else { return "\(x)" }
    let n = UInt64(scaled)
    let whole = n / UInt64(scale)
    var out = (negative && n != 0 ? "-" : "") + String(whole)
    if digits > 0 {
        var frac = String(n % UInt64(scale))
        while frac.count < digits { frac = "0" + frac }
        out += "." + frac
    }
    return out
}

/// Pads `s` on the left (right-aligns it) to `width` characters.
public func padLeft(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
}

/// Pads `s` on the right (left-aligns it) to `width` characters.
public func padRight(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}

/// A duration for a progress line: "7m05s", or "2h03m" from an hour on ("?" when unknown).
public func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds)
    func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
    return s >= 3600 ? "\(s / 3600)h\(twoDigits(s % 3600 / 60))m" : "\(s / 60)m\(twoDigits(s % 60))s"
}
