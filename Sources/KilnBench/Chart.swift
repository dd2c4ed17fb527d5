import Foundation

/// One SVG page comparing benchmark runs: output throughput against concurrency (a line per server), and the
/// distributions of TTFT, TPOT and end-to-end latency per concurrency as box plots (box: quartiles, bar: median,
/// whiskers: 5th to 95th percentile, dot: 99th percentile), one box per server side by side.
public enum BenchChart {
    static let palette = ["#d1495b", "#00798c", "#edae49", "#30638e", "#66a182", "#8d6a9f", "#2e4057"]

    public static func svg(_ results: [BenchResult], title: String? = nil) -> String {
        var labels: [String] = []
        for r in results where !labels.contains(r.label) { labels.append(r.label) }
        let levels = Array(Set(results.map(\.concurrency))).sorted()
        func run(_ label: String, _ level: Int) -> BenchResult? {
            results.last { $0.label == label && $0.concurrency == level }
        }
        let panelW = 560.0
        let panelH = 360.0
        let top = 96.0
        var svg = SVGWriter(width: 2 * panelW + 60, height: top + 2 * panelH + 60)
        let heading =
            title
            ?? {
                let shapes = Set(results.map { "\($0.inputLen) prompt / \($0.outputLen) generated tokens" })
                return "Serving benchmark: " + shapes.sorted().joined(separator: ", ")
            }()
        svg.text(30, 34, heading, size: 20, weight: "bold")
        svg.text(
            30, 58,
            "Each point or box is one run at that many concurrent requests. Throughput: higher is better; latency: lower is better.",
            size: 12, color: "#555")
        // Legend.
        var x = 30.0
        for (i, label) in labels.enumerated() {
            svg.rect(x, 70, 14, 14, fill: palette[i % palette.count])
            svg.text(x + 20, 82, label, size: 13)
            x += 30 + Double(label.count) * 7.5
        }

        let origins = [(20.0, top), (40 + panelW, top), (20.0, top + panelH + 20), (40 + panelW, top + panelH + 20)]
        // Throughput.
        do {
            let (ox, oy) = origins[0]
            let values = labels.flatMap { l in levels.compactMap { run(l, $0)?.summary.outputThroughput } }
            let frame = Frame(svg: &svg, x: ox, y: oy, w: panelW, h: panelH, title: "Output throughput (tokens/s)",
                              xTitle: "concurrent requests", levels: levels, maxValue: values.max() ?? 1)
            for (i, label) in labels.enumerated() {
                let points = levels.enumerated().compactMap { j, l in
                    run(label, l).map { (frame.center(j), frame.y($0.summary.outputThroughput), $0.summary.outputThroughput) }
                }
                let color = palette[i % palette.count]
                svg.polyline(points.map { ($0.0, $0.1) }, stroke: color)
                for p in points {
                    svg.circle(p.0, p.1, 4, fill: color)
                    svg.text(p.0 + 6, p.1 - 6, String(format: "%.0f", p.2), size: 11, color: color)
                }
            }
        }
        // Latency distributions.
        let metrics: [(String, (BenchResult) -> [Double], Double)] = [
            ("Time to first token (ms)", { $0.ttftsMs }, 1),
            ("Time per output token, excluding the first (ms)", { $0.tpotsMs }, 1),
            ("End-to-end latency (s)", { $0.e2elsMs }, 0.001),
        ]
        for (k, (name, values, scale)) in metrics.enumerated() {
            let (ox, oy) = origins[k + 1]
            let all = results.flatMap { values($0).map { $0 * scale } }
            // Queueing can spread latencies over orders of magnitude; then a log scale keeps every box readable.
            let smallest = all.filter { $0 > 0 }.min() ?? 1
            let logScale = (all.max() ?? 1) / smallest > 100
            let frame = Frame(svg: &svg, x: ox, y: oy, w: panelW, h: panelH,
                              title: logScale ? name + ", log scale" : name, xTitle: "concurrent requests",
                              levels: levels, maxValue: all.max() ?? 1, minValue: logScale ? smallest : nil)
            let slot = frame.slotWidth * 0.8 / Double(max(labels.count, 1))
            for (j, level) in levels.enumerated() {
                for (i, label) in labels.enumerated() {
                    guard let r = run(label, level) else { continue }
                    let v = values(r).map { $0 * scale }.sorted()
                    guard !v.isEmpty else { continue }
                    func q(_ p: Double) -> Double { LatencyStats.percentile(v, p) }
                    let cx = frame.center(j) - frame.slotWidth * 0.4 + slot * (Double(i) + 0.5)
                    let color = palette[i % palette.count]
                    let w = slot * 0.7
                    svg.line(cx, frame.y(q(5)), cx, frame.y(q(95)), stroke: color, width: 1.5)
                    svg.line(cx - w / 4, frame.y(q(5)), cx + w / 4, frame.y(q(5)), stroke: color, width: 1.5)
                    svg.line(cx - w / 4, frame.y(q(95)), cx + w / 4, frame.y(q(95)), stroke: color, width: 1.5)
                    let boxTop = frame.y(q(75))
                    svg.rect(cx - w / 2, boxTop, w, max(1, frame.y(q(25)) - boxTop), fill: color, opacity: 0.35, stroke: color)
                    svg.line(cx - w / 2, frame.y(q(50)), cx + w / 2, frame.y(q(50)), stroke: color, width: 2.5)
                    svg.circle(cx, frame.y(q(99)), 2.5, fill: color)
                    svg.text(cx, frame.y(q(50)) - 4, Self.short(q(50)), size: 10, color: "#222", anchor: "middle")
                }
            }
        }
        return svg.finish()
    }

    static func short(_ v: Double) -> String {
        v == v.rounded() ? String(format: "%.0f", v) : v >= 100 ? String(format: "%.0f", v) : v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v)
    }

    /// A panel's axes: categorical x (one slot per concurrency), linear y from 0 with round ticks.
    struct Frame {
        let plotX: Double
        let plotY: Double
        let plotW: Double
        let plotH: Double
        let top: Double
        /// Set for a log scale: the lowest power of ten shown.
        let bottom: Double?
        let slotWidth: Double

        /// A linear y axis from 0, or with `minValue` a log axis between the powers of ten around the values.
        init(svg: inout SVGWriter, x: Double, y: Double, w: Double, h: Double, title: String, xTitle: String,
             levels: [Int], maxValue: Double, minValue: Double? = nil)
        {
            plotX = x + 60
            plotY = y + 36
            plotW = w - 80
            plotH = h - 84
            slotWidth = plotW / Double(max(levels.count, 1))
            svg.rect(x, y, w, h, fill: "#fafafa", stroke: "#ddd")
            svg.text(x + 14, y + 22, title, size: 14, weight: "bold")
            var ticks: [Double] = []
            if let minValue {
                let lo = pow(10, log10(minValue).rounded(.down))
                bottom = lo
                top = max(lo * 10, pow(10, log10(maxValue).rounded(.up)))
                var t = lo
                while t <= top * 1.001 {
                    ticks.append(t)
                    t *= 10
                }
            } else {
                bottom = nil
                let step = Self.niceStep(maxValue / 5)
                top = max(step, (maxValue / step).rounded(.up) * step)
                var t = 0.0
                while t <= top + step / 2 {
                    ticks.append(t)
                    t += step
                }
            }
            for tick in ticks {
                let ty = self.y(tick)
                svg.line(plotX, ty, plotX + plotW, ty, stroke: "#e4e4e4", width: 1)
                svg.text(plotX - 6, ty + 4, BenchChart.short(tick), size: 11, color: "#555", anchor: "end")
            }
            svg.line(plotX, plotY + plotH, plotX + plotW, plotY + plotH, stroke: "#888", width: 1)
            for (j, l) in levels.enumerated() {
                svg.text(plotX + slotWidth * (Double(j) + 0.5), plotY + plotH + 18, "\(l)", size: 12, anchor: "middle")
            }
            svg.text(plotX + plotW / 2, plotY + plotH + 38, xTitle, size: 12, color: "#555", anchor: "middle")
        }

        func center(_ j: Int) -> Double { plotX + slotWidth * (Double(j) + 0.5) }
        func y(_ v: Double) -> Double {
            guard let bottom else { return plotY + plotH - min(v, top) / top * plotH }
            let f = (log10(max(v, bottom)) - log10(bottom)) / (log10(top) - log10(bottom))
            return plotY + plotH - min(f, 1) * plotH
        }

        static func niceStep(_ raw: Double) -> Double {
            guard raw > 0, raw.isFinite else { return 1 }
            let magnitude = pow(10, (log10(raw)).rounded(.down))
            for m in [1.0, 2, 2.5, 5, 10] where m * magnitude >= raw { return m * magnitude }
            return 10 * magnitude
        }
    }
}

struct SVGWriter {
    private var parts: [String] = []
    let width: Double
    let height: Double

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
        parts.append(
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(f(width))" height="\#(f(height))" viewBox="0 0 \#(f(width)) \#(f(height))" font-family="Helvetica, Arial, sans-serif">"#
        )
        parts.append(#"<rect width="100%" height="100%" fill="white"/>"#)
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    mutating func text(
        _ x: Double, _ y: Double, _ s: String, size: Double, weight: String = "normal", color: String = "#222",
        anchor: String = "start"
    ) {
        parts.append(
            #"<text x="\#(f(x))" y="\#(f(y))" font-size="\#(f(size))" font-weight="\#(weight)" fill="\#(color)" text-anchor="\#(anchor)">\#(Self.escape(s))</text>"#
        )
    }

    mutating func rect(
        _ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, opacity: Double = 1, stroke: String? = nil
    ) {
        let s = stroke.map { #" stroke="\#($0)""# } ?? ""
        parts.append(
            #"<rect x="\#(f(x))" y="\#(f(y))" width="\#(f(w))" height="\#(f(h))" fill="\#(fill)" fill-opacity="\#(opacity)"\#(s)/>"#)
    }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String, width: Double) {
        parts.append(
            #"<line x1="\#(f(x1))" y1="\#(f(y1))" x2="\#(f(x2))" y2="\#(f(y2))" stroke="\#(stroke)" stroke-width="\#(width)"/>"#)
    }

    mutating func circle(_ x: Double, _ y: Double, _ r: Double, fill: String) {
        parts.append(#"<circle cx="\#(f(x))" cy="\#(f(y))" r="\#(f(r))" fill="\#(fill)"/>"#)
    }

    mutating func polyline(_ points: [(Double, Double)], stroke: String) {
        guard points.count > 1 else { return }
        let p = points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
        parts.append(#"<polyline points="\#(p)" fill="none" stroke="\#(stroke)" stroke-width="2.5"/>"#)
    }

    func finish() -> String { (parts + ["</svg>"]).joined(separator: "\n") + "\n" }
}
