#if canImport(Glibc)
import Glibc
#endif
/// A minimal SVG line/point chart: enough for loss curves and sampler comparisons,
/// readable in any browser, no dependencies.
public struct SVGPlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public var lines: Bool
        /// Error bars (± one standard error, say) for each point, or empty.
        public var errors: [(x: Double, y: Double)]
        public var marker: Marker
        public init(name: String, points: [(x: Double, y: Double)], color: String, lines: Bool = true,
                    errors: [(x: Double, y: Double)] = [], marker: Marker = .circle) {
            self.name = name
            self.points = points
            self.color = color
            self.lines = lines
            self.errors = errors
            self.marker = marker
        }
    }

    /// Point shapes, so that more series than colours stay distinguishable.
    public enum Marker: CaseIterable { case circle, square, triangle }

    /// Ten colours, then the same ten with the next marker: series `i`'s look, the same in
    /// every chart so that a method keeps its colour across a sampler and a steering plot.
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    public static func look(ofSeries i: Int) -> (color: String, marker: Marker) {
        (palette[i % palette.count], Marker.allCases[(i / palette.count) % Marker.allCases.count])
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series] = []
    /// A logarithmic y axis (perplexities spanning orders of magnitude).
    public var logY = false

    public init(title: String, xLabel: String, yLabel: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }

    public func render(width: Double = 720, height: Double = 440) -> String {
        let logY = self.logY
        // y in plot space: log10 on a log axis (non-positive values cannot be drawn there).
        func ty(_ y: Double) -> Double { logY ? (y > 0 ? log10(y) : .nan) : y }
        // The axes cover every point and its error bars.
        var extents: [(x: Double, y: Double)] = []
        for ser in series {
            for (k, p) in ser.points.enumerated() {
                extents.append(p)
                if k < ser.errors.count {
                    let e = ser.errors[k]
                    extents += [(p.x - e.x, p.y), (p.x + e.x, p.y), (p.x, p.y + e.y), (p.x, p.y - e.y)]
                }
            }
        }
        let all = extents.map { (x: $0.x, y: ty($0.y)) }.filter { $0.x.isFinite && $0.y.isFinite }
        let left = 70.0, right = 300.0, top = 40.0, bottom = 50.0
        var minX = all.map(\.x).min() ?? 0, maxX = all.map(\.x).max() ?? 1
        var minY = all.map(\.y).min() ?? 0, maxY = all.map(\.y).max() ?? 1
        if maxX == minX { maxX += 1; minX -= 1 }
        if maxY == minY { maxY += 1; minY -= 1 }
        let padY = (maxY - minY) * 0.05, padX = series.contains { !$0.lines } ? (maxX - minX) * 0.04 : 0
        minY -= padY
        maxY += padY
        minX -= padX
        maxX += padX
        let w = width - left - right, h = height - top - bottom
        func px(_ x: Double) -> Double { left + (x - minX) / (maxX - minX) * w }
        func py(_ y: Double) -> Double { top + (1 - (ty(y) - minY) / (maxY - minY)) * h }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(width / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(SVGPlot.escape(title))</text>\n"
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#444\"/>\n"
        for k in 0...4 {
            let fx = Double(k) / 4
            let xv = minX + fx * (maxX - minX), yPlot = minY + fx * (maxY - minY)
            let yv = logY ? pow(10, yPlot) : yPlot
            s += "<line x1=\"\(px(xv))\" y1=\"\(top)\" x2=\"\(px(xv))\" y2=\"\(top + h)\" stroke=\"#eee\"/>\n"
            s += "<line x1=\"\(left)\" y1=\"\(py(yv))\" x2=\"\(left + w)\" y2=\"\(py(yv))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(px(xv))\" y=\"\(top + h + 16)\" text-anchor=\"middle\">\(fixed(xv, xv.magnitude >= 100 ? 0 : 2))</text>\n"
            s += "<text x=\"\(left - 6)\" y=\"\(py(yv) + 4)\" text-anchor=\"end\">\(fixed(yv, yv.magnitude >= 100 ? 0 : 2))</text>\n"
        }
        s += "<text x=\"\(left + w / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">\(SVGPlot.escape(xLabel))</text>\n"
        s += "<text x=\"16\" y=\"\(top + h / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(top + h / 2))\">\(SVGPlot.escape(yLabel))</text>\n"
        for (i, ser) in series.enumerated() {
            let pts = ser.points.filter { $0.x.isFinite && $0.y.isFinite }
            if ser.lines && pts.count > 1 {
                let path = pts.map { "\(fixed(px($0.x), 1)),\(fixed(py($0.y), 1))" }.joined(separator: " ")
                s += "<polyline fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            } else {
                for (k, p) in ser.points.enumerated() where p.x.isFinite && ty(p.y).isFinite {
                    if k < ser.errors.count {
                        let e = ser.errors[k]
                        let (x, y) = (px(p.x), py(p.y))
                        let yLow = ty(p.y - e.y).isFinite ? py(p.y - e.y) : top + h
                        s += "<line x1=\"\(fixed(px(p.x - e.x), 1))\" y1=\"\(fixed(y, 1))\" x2=\"\(fixed(px(p.x + e.x), 1))\" y2=\"\(fixed(y, 1))\" stroke=\"\(ser.color)\"/>\n"
                        s += "<line x1=\"\(fixed(x, 1))\" y1=\"\(fixed(py(p.y + e.y), 1))\" x2=\"\(fixed(x, 1))\" y2=\"\(fixed(yLow, 1))\" stroke=\"\(ser.color)\"/>\n"
                    }
                    s += SVGPlot.marker(ser.marker, x: px(p.x), y: py(p.y), color: ser.color)
                }
            }
            let ly = top + 14 + Double(i) * 18
            s += SVGPlot.marker(ser.marker, x: left + w + 17, y: ly - 4, color: ser.color)
            s += "<text x=\"\(left + w + 28)\" y=\"\(ly)\">\(SVGPlot.escape(ser.name))</text>\n"
        }
        s += "</svg>\n"
        return s
    }

    static func marker(_ m: Marker, x: Double, y: Double, color: String) -> String {
        let (cx, cy) = (fixed(x, 1), fixed(y, 1))
        switch m {
        case .circle:
            return "<circle cx=\"\(cx)\" cy=\"\(cy)\" r=\"4.5\" fill=\"\(color)\"/>\n"
        case .square:
            return "<rect x=\"\(fixed(x - 4, 1))\" y=\"\(fixed(y - 4, 1))\" width=\"8\" height=\"8\" fill=\"\(color)\"/>\n"
        case .triangle:
            return "<polygon points=\"\(cx),\(fixed(y - 5, 1)) \(fixed(x - 5, 1)),\(fixed(y + 4, 1)) \(fixed(x + 5, 1)),\(fixed(y + 4, 1))\" fill=\"\(color)\"/>\n"
        }
    }
}
