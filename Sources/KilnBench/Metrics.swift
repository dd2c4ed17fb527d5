import Foundation

/// What the client saw of one request: when each streamed chunk arrived, relative to when the request was sent.
public struct RequestOutcome: Sendable, Codable, Equatable {
    public var success: Bool
    /// Prompt tokens as the server reported them (TGI's `details.input_length`, OpenAI's `usage.prompt_tokens`),
    /// else the count the client computed.
    public var promptTokens: Int
    /// Generated tokens as the server reported them, else the number of streamed chunks that carried a token.
    public var outputTokens: Int
    /// Seconds from sending the request to the first chunk carrying a token.
    public var ttft: Double
    /// Gaps between successive token-carrying chunks, seconds.
    public var itl: [Double]
    /// Seconds from sending the request to the end of its response.
    public var latency: Double
    /// Seconds from the benchmark's start to when this request was sent.
    public var sentAt: Double
    public var error: String?

    public init(
        success: Bool, promptTokens: Int, outputTokens: Int, ttft: Double, itl: [Double], latency: Double,
        sentAt: Double = 0, error: String? = nil
    ) {
        self.success = success
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.ttft = ttft
        self.itl = itl
        self.latency = latency
        self.sentAt = sentAt
        self.error = error
    }

    public static func failed(_ message: String, sentAt: Double, latency: Double) -> RequestOutcome {
        RequestOutcome(
            success: false, promptTokens: 0, outputTokens: 0, ttft: 0, itl: [], latency: latency, sentAt: sentAt,
            error: message)
    }

    /// vLLM's time per output token: the time after the first token spread over the tokens after it; nil for a
    /// request with fewer than two output tokens.
    public var tpot: Double? {
        guard success, outputTokens > 1 else { return nil }
        return (latency - ttft) / Double(outputTokens - 1)
    }
}

/// Service-level objectives for goodput, in milliseconds (vLLM's `--goodput ttft:MS tpot:MS e2el:MS`).
public struct ServiceLevelObjectives: Sendable, Codable, Equatable {
    public var ttftMs: Double?
    public var tpotMs: Double?
    public var e2elMs: Double?

    public init(ttftMs: Double? = nil, tpotMs: Double? = nil, e2elMs: Double? = nil) {
        self.ttftMs = ttftMs
        self.tpotMs = tpotMs
        self.e2elMs = e2elMs
    }

    public var isEmpty: Bool { ttftMs == nil && tpotMs == nil && e2elMs == nil }

    /// A request is good when it succeeded and meets every objective that is set. A request with one output token
    /// has no TPOT and counts as meeting that objective, as in vLLM.
    public func met(by r: RequestOutcome) -> Bool {
        guard r.success else { return false }
        if let ttftMs, r.ttft * 1000 > ttftMs { return false }
        if let tpotMs, let tpot = r.tpot, tpot * 1000 > tpotMs { return false }
        if let e2elMs, r.latency * 1000 > e2elMs { return false }
        return true
    }
}

/// Summary statistics of one latency metric, in milliseconds.
public struct LatencyStats: Sendable, Codable, Equatable {
    public var mean: Double
    public var median: Double
    public var std: Double
    public var p90: Double
    public var p99: Double
    public var min: Double
    public var max: Double

    /// Population standard deviation and linearly interpolated percentiles (numpy's defaults, which vLLM uses).
    /// All zero for no samples.
    public init(seconds values: [Double]) {
        let ms = values.map { $0 * 1000 }.sorted()
        guard !ms.isEmpty else {
            mean = 0
            median = 0
            std = 0
            p90 = 0
            p99 = 0
            min = 0
            max = 0
            return
        }
        let m = ms.reduce(0, +) / Double(ms.count)
        mean = m
        std = (ms.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(ms.count)).squareRoot()
        median = Self.percentile(ms, 50)
        p90 = Self.percentile(ms, 90)
        p99 = Self.percentile(ms, 99)
        min = ms.first!
        max = ms.last!
    }

    /// The `q`-th percentile of sorted values with linear interpolation between closest ranks.
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? 0 }
        let rank = q / 100 * Double(sorted.count - 1)
        let lo = Int(rank.rounded(.down))
        let hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - Double(lo))
    }
}

/// The benchmark's result, with vLLM's definitions (benchmark_serving.py `calculate_metrics`):
/// request and token throughputs over the whole run's duration; TTFT per request; TPOT per request excluding the
/// first token; ITL pooled over every gap of every request; E2E latency per request.
public struct BenchSummary: Sendable, Codable {
    public var completed: Int
    public var failed: Int
    public var duration: Double
    public var totalInputTokens: Int
    public var totalOutputTokens: Int
    public var requestThroughput: Double
    public var requestGoodput: Double?
    public var outputThroughput: Double
    public var totalTokenThroughput: Double
    public var ttft: LatencyStats
    public var tpot: LatencyStats
    public var itl: LatencyStats
    public var e2el: LatencyStats

    public init(outcomes: [RequestOutcome], duration: Double, objectives: ServiceLevelObjectives = .init()) {
        let ok = outcomes.filter(\.success)
        completed = ok.count
        failed = outcomes.count - ok.count
        self.duration = duration
        totalInputTokens = ok.reduce(0) { $0 + $1.promptTokens }
        totalOutputTokens = ok.reduce(0) { $0 + $1.outputTokens }
        let d = duration > 0 ? duration : .infinity
        requestThroughput = Double(completed) / d
        requestGoodput = objectives.isEmpty ? nil : Double(ok.filter(objectives.met).count) / d
        outputThroughput = Double(totalOutputTokens) / d
        totalTokenThroughput = Double(totalInputTokens + totalOutputTokens) / d
        ttft = LatencyStats(seconds: ok.map(\.ttft))
        tpot = LatencyStats(seconds: ok.compactMap(\.tpot))
        itl = LatencyStats(seconds: ok.flatMap(\.itl))
        e2el = LatencyStats(seconds: ok.map(\.latency))
    }

    /// vLLM's printout.
    public func report(maxConcurrency: Int?, peakConcurrency: Int? = nil) -> String {
        var lines: [String] = []
        func title(_ t: String) {
            let pad = max(0, 50 - t.count)
            lines.append(String(repeating: "-", count: pad / 2) + t + String(repeating: "-", count: pad - pad / 2))
        }
        func row(_ name: String, _ value: String) {
            lines.append(name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(repeating: " ", count: max(0, 10 - value.count)) + value)
        }
        func f(_ v: Double) -> String { String(format: "%.2f", v) }
        lines.append("============ Serving Benchmark Result ============")
        row("Successful requests:", "\(completed)")
        if failed > 0 { row("Failed requests:", "\(failed)") }
        if let maxConcurrency { row("Maximum request concurrency:", "\(maxConcurrency)") }
        row("Benchmark duration (s):", f(duration))
        row("Total input tokens:", "\(totalInputTokens)")
        row("Total generated tokens:", "\(totalOutputTokens)")
        row("Request throughput (req/s):", f(requestThroughput))
        if let requestGoodput { row("Request goodput (req/s):", f(requestGoodput)) }
        row("Output token throughput (tok/s):", f(outputThroughput))
        row("Total Token throughput (tok/s):", f(totalTokenThroughput))
        for (name, long, s) in [
            ("TTFT", "Time to First Token", ttft), ("TPOT", "Time per Output Token (excl. 1st token)", tpot),
            ("ITL", "Inter-token Latency", itl), ("E2EL", "End-to-end Latency", e2el),
        ] {
            title(long)
            row("Mean \(name) (ms):", f(s.mean))
            row("Median \(name) (ms):", f(s.median))
            row("P90 \(name) (ms):", f(s.p90))
            row("P99 \(name) (ms):", f(s.p99))
        }
        lines.append(String(repeating: "=", count: 50))
        return lines.joined(separator: "\n")
    }
}
