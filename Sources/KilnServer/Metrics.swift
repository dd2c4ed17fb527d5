import Synchronization

/// Prometheus text exposition (format 0.0.4) of TGI's metric names, written by hand: a few counters and histograms
/// behind one lock, plus gauges read from the engine's snapshot when scraped. Names, types and the duration
/// buckets (35 geometric from 0.00015 s, ×1.5) follow TGI's router (docs/source/reference/metrics.md).
final class ServerMetrics: Sendable {
    struct Histogram: Sendable {
        let buckets: [Double]
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0

        init(buckets: [Double]) {
            self.buckets = buckets
            counts = Array(repeating: 0, count: buckets.count)
        }

        mutating func observe(_ value: Double) {
            for i in buckets.indices where value <= buckets[i] { counts[i] += 1 }
            sum += value
            count += 1
        }
    }

    struct State: Sendable {
        var requestCount: UInt64 = 0
        var success: UInt64 = 0
        var failures: [String: UInt64] = [:]
        var histograms: [String: Histogram]
    }

    static let durationBuckets: [Double] = (0..<35).map { 0.00015 * pow1_5($0) }
    private static func pow1_5(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 1.5 } }

    static let histogramHelp: [(String, String)] = [
        ("tgi_request_duration", "End-to-end request latency in seconds"),
        ("tgi_request_validation_duration", "Validation and tokenization time in seconds"),
        ("tgi_request_queue_duration", "Time from submission until the prompt was scheduled, seconds"),
        ("tgi_request_inference_duration", "Time from scheduling until the last token, seconds"),
        ("tgi_request_mean_time_per_token_duration", "Inference time divided by generated tokens, seconds"),
        ("kiln_request_time_to_first_token_duration", "Time from arrival until the first generated token, seconds"),
        ("tgi_request_input_length", "Prompt tokens per request"),
        ("tgi_request_generated_tokens", "Generated tokens per request"),
        ("tgi_request_max_new_tokens", "Requested max_new_tokens per request"),
    ]

    private let state: Mutex<State>

    init(maxInputTokens: Int, maxTotalTokens: Int) {
        let inputBuckets = (1...100).map { Double(max(maxInputTokens, 100)) / 100 * Double($0) }
        let outputBuckets = (1...100).map { Double(max(maxTotalTokens, 100)) / 100 * Double($0) }
        var histograms: [String: Histogram] = [:]
        for (name, _) in Self.histogramHelp {
            switch name {
            case "tgi_request_input_length": histograms[name] = Histogram(buckets: inputBuckets)
            case "tgi_request_generated_tokens", "tgi_request_max_new_tokens":
                histograms[name] = Histogram(buckets: outputBuckets)
            default: histograms[name] = Histogram(buckets: Self.durationBuckets)
            }
        }
        state = Mutex(State(histograms: histograms))
    }

    func requestReceived() { state.withLock { $0.requestCount += 1 } }

    func failed(_ error: ServerError) { state.withLock { $0.failures[error.metricLabel, default: 0] += 1 } }

    func dropped() { state.withLock { $0.failures["dropped", default: 0] += 1 } }

    func succeeded(_ timings: RequestTimings) {
        state.withLock { s in
            s.success += 1
            s.histograms["tgi_request_duration"]?.observe(timings.total)
            s.histograms["tgi_request_validation_duration"]?.observe(timings.validation)
            s.histograms["tgi_request_queue_duration"]?.observe(timings.queue)
            s.histograms["tgi_request_inference_duration"]?.observe(timings.inference)
            s.histograms["tgi_request_mean_time_per_token_duration"]?.observe(timings.timePerToken)
            s.histograms["tgi_request_input_length"]?.observe(Double(timings.promptTokens))
            s.histograms["tgi_request_generated_tokens"]?.observe(Double(timings.generatedTokens))
            s.histograms["tgi_request_max_new_tokens"]?.observe(Double(timings.maxNewTokens))
            if let ttft = timings.timeToFirstToken {
                s.histograms["kiln_request_time_to_first_token_duration"]?.observe(ttft)
            }
        }
    }

    /// The exposition text; `gauges` come from the engine at scrape time.
    func render(gauges: [(name: String, help: String, value: Double)]) -> String {
        let s = state.withLock { $0 }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("tgi_request_count", "counter", "Generation requests received")
        out += "tgi_request_count \(s.requestCount)\n"
        family("tgi_request_success", "counter", "Generation requests that finished")
        out += "tgi_request_success \(s.success)\n"
        family("tgi_request_failure", "counter", "Generation requests that failed, by reason")
        for (label, value) in s.failures.sorted(by: { $0.key < $1.key }) {
            out += "tgi_request_failure{err=\"\(label)\"} \(value)\n"
        }
        for (name, help) in Self.histogramHelp {
            guard let h = s.histograms[name] else { continue }
            family(name, "histogram", help)
            for (bound, count) in zip(h.buckets, h.counts) {
                out += "\(name)_bucket{le=\"\(format(bound))\"} \(count)\n"
            }
            out += "\(name)_bucket{le=\"+Inf\"} \(h.count)\n"
            out += "\(name)_sum \(format(h.sum))\n\(name)_count \(h.count)\n"
        }
        for gauge in gauges {
            family(gauge.name, "gauge", gauge.help)
            out += "\(gauge.name) \(format(gauge.value))\n"
        }
        return out
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

/// What one finished request took: the x-* headers, the histograms and the request's log line.
struct RequestTimings: Sendable {
    var total: Double
    var validation: Double
    var queue: Double
    var inference: Double
    var timeToFirstToken: Double?
    var promptTokens: Int
    var generatedTokens: Int
    var maxNewTokens: Int

    var timePerToken: Double { generatedTokens > 0 ? inference / Double(generatedTokens) : 0 }
}
