import Foundation

/// What `kiln bench serve` writes: the run's settings, vLLM's summary metrics, and each request's numbers (kept
/// so that charts can show distributions). Latencies are milliseconds; keys are snake_case.
public struct BenchResult: Sendable, Codable {
    public var label: String
    public var date: String
    public var backend: Backend
    public var url: String
    public var dataset: String
    public var numPrompts: Int
    /// nil: infinite (all requests sent at once).
    public var requestRate: Double?
    public var maxConcurrency: Int?
    public var peakConcurrency: Int
    public var inputLen: Int
    public var outputLen: Int
    public var seed: UInt64
    public var goodputObjectives: ServiceLevelObjectives?
    public var summary: BenchSummary
    public var inputLens: [Int]
    public var outputLens: [Int]
    public var ttftsMs: [Double]
    /// One per request with at least two output tokens.
    public var tpotsMs: [Double]
    public var e2elsMs: [Double]
    public var errors: [String]

    public init(
        label: String, backend: Backend, url: String, dataset: String, shape: LoadShape, inputLen: Int, outputLen: Int,
        objectives: ServiceLevelObjectives, outcomes: [RequestOutcome], duration: Double, peakConcurrency: Int
    ) {
        self.label = label
        date = ISO8601DateFormatter().string(from: Date())
        self.backend = backend
        self.url = url
        self.dataset = dataset
        numPrompts = outcomes.count
        requestRate = shape.requestRate.isFinite ? shape.requestRate : nil
        maxConcurrency = shape.maxConcurrency
        self.peakConcurrency = peakConcurrency
        self.inputLen = inputLen
        self.outputLen = outputLen
        seed = shape.seed
        goodputObjectives = objectives.isEmpty ? nil : objectives
        summary = BenchSummary(outcomes: outcomes, duration: duration, objectives: objectives)
        let ok = outcomes.filter(\.success)
        func ms(_ s: Double) -> Double { (s * 1e5).rounded() / 100 }
        inputLens = ok.map(\.promptTokens)
        outputLens = ok.map(\.outputTokens)
        ttftsMs = ok.map { ms($0.ttft) }
        tpotsMs = ok.compactMap { $0.tpot.map(ms) }
        e2elsMs = ok.map { ms($0.latency) }
        errors = outcomes.compactMap(\.error)
    }

    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The concurrency a run had: its limit, else the number of requests (all sent at once).
    public var concurrency: Int { maxConcurrency ?? numPrompts }
}

public enum BenchTable {
    /// A markdown table of runs, one row per server and concurrency, with each server's ratio to the first label's
    /// output throughput.
    public static func markdown(_ results: [BenchResult]) -> String {
        var labels: [String] = []
        for r in results where !labels.contains(r.label) { labels.append(r.label) }
        let levels = Array(Set(results.map(\.concurrency))).sorted()
        var lines = [
            "| server | concurrency | requests | output tok/s | req/s | TTFT median / p99 (ms) | TPOT median / p99 (ms) | ITL median / p99 (ms) | E2E median / p99 (s) | mean output tokens |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for level in levels {
            for label in labels {
                guard let r = results.last(where: { $0.label == label && $0.concurrency == level }) else { continue }
                let s = r.summary
                let meanOut = s.completed > 0 ? Double(s.totalOutputTokens) / Double(s.completed) : 0
                lines.append(
                    String(
                        format: "| %@ | %d | %d | %.1f | %.2f | %.0f / %.0f | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f | %.1f |",
                        label, level, s.completed, s.outputThroughput, s.requestThroughput, s.ttft.median, s.ttft.p99,
                        s.tpot.median, s.tpot.p99, s.itl.median, s.itl.p99, s.e2el.median / 1000, s.e2el.p99 / 1000, meanOut))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
