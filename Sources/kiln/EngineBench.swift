import Foundation
import KilnEngine
import KilnKernels
import KilnModels
import KilnSampling

/// Throughput of the batching engine (no HTTP): `concurrency` streams at once, each a distinct prompt of
/// `promptTokens` tokens generating `generateTokens` tokens past any end token.
struct EngineBenchResult: Codable {
    var concurrency: Int
    /// Whether each stream was under the structured-output constraint.
    var constrained = false
    var promptTokens: Int
    var generatedTokens: Int
    var seconds: Double
    /// All generated tokens ÷ wall time from submission (so the prompts' prefill counts in the time).
    var aggregateTokensPerSecond: Double
    /// Decode only: the tokens each stream generated after its first, summed over streams, ÷ the decode phase, from
    /// the earliest first token to the latest last token. Prefill before the earliest first token is left out; a
    /// later stream's prefill overlapping the phase still counts in its time. One stream: its decode rate.
    var decodeAggregateTokensPerSecond: Double
    /// Mean over streams of (generated − 1) ÷ (last token time − first token time).
    var perStreamDecodeTokensPerSecond: Double
    var meanTimeToFirstTokenSeconds: Double
}

enum EngineBench {
    static func run(
        model: LoadedModel, levels: [Int], promptTokens: Int, generateTokens: Int, kvCacheBytes: Int,
        precision: Precision, kvCacheDType: KVCacheDType? = nil, constraint: ConstraintSpec? = nil,
        repetitions: Int = 1
    ) async throws -> [EngineBenchResult] {
        let maxLevel = levels.max() ?? 1
        let engine = try Engine(
            model: model,
            config: EngineConfig(
                maxBatchSize: max(maxLevel, 1), maxBatchTokens: max(256, maxLevel), kvCacheBytes: kvCacheBytes,
                prefixCaching: false, precision: precision, kvCacheDType: kvCacheDType))
        defer { Task { await engine.shutdown(drain: false) } }
        let parameters = try SamplingRequest(ignoreEOS: true, maxNewTokens: generateTokens).validate()
        let vocabulary = Int32(model.transformer.config.vocabularySize)
        let compiled = try constraint.map { try engine.constraints.compile($0) }
        var results: [EngineBenchResult] = []
        // With a constraint, each level runs unconstrained then constrained. Repetitions are rounds that run every
        // configuration in turn (the machine may be shared); every round's result is returned (see `medians`).
        let configurations = levels.flatMap { l in compiled == nil ? [(l, false)] : [(l, false), (l, true)] }
        for (level, constrained) in (0..<max(repetitions, 1)).flatMap({ _ in configurations }) {
            // Distinct pseudo-random prompts: no stream shares a prefix with another.
            var generator = SplitMix64(seed: UInt64(level))
            let requests = (0..<level).map { _ in
                GenerationRequest(
                    promptTokens: (0..<promptTokens).map { _ in Int32(generator.next() % UInt64(vocabulary - 256)) + 200 },
                    parameters: parameters, constraint: constrained ? compiled : nil)
            }
            let start = DispatchTime.now()
            let streams = try await withThrowingTaskGroup(of: (Double, Double, Double, Int).self) { group in
                for request in requests {
                    group.addTask {
                        var first = 0.0
                        var last = 0.0
                        var count = 0
                        for try await event in engine.submit(request) {
                            if case .token = event {
                                last = seconds(since: start)
                                if count == 0 { first = last }
                                count += 1
                            }
                        }
                        return (first, last, 0, count)
                    }
                }
                var out: [(Double, Double, Double, Int)] = []
                for try await r in group { out.append(r) }
                return out
            }
            let wall = seconds(since: start)
            let generated = streams.reduce(0) { $0 + $1.3 }
            let decodeTokens = streams.reduce(0) { $0 + max($1.3 - 1, 0) }
            let decodePhase = (streams.map(\.1).max() ?? 0) - (streams.filter { $0.3 > 0 }.map(\.0).min() ?? 0)
            let decodeRates = streams.map { s in s.3 > 1 && s.1 > s.0 ? Double(s.3 - 1) / (s.1 - s.0) : 0 }
            results.append(
                EngineBenchResult(
                    concurrency: level, constrained: constrained, promptTokens: promptTokens,
                    generatedTokens: generated, seconds: wall,
                    aggregateTokensPerSecond: Double(generated) / wall,
                    decodeAggregateTokensPerSecond: decodePhase > 0 ? Double(decodeTokens) / decodePhase : 0,
                    perStreamDecodeTokensPerSecond: decodeRates.reduce(0, +) / Double(max(decodeRates.count, 1)),
                    meanTimeToFirstTokenSeconds: streams.reduce(0) { $0 + $1.0 } / Double(max(streams.count, 1))))
        }
        return results
    }

    /// For each configuration (level, constrained) in the order first run, the round with its median aggregate rate.
    static func medians(_ results: [EngineBenchResult]) -> [EngineBenchResult] {
        var seen: [(Int, Bool)] = []
        for r in results where !seen.contains(where: { $0 == (r.concurrency, r.constrained) }) {
            seen.append((r.concurrency, r.constrained))
        }
        return seen.map { (level, constrained) in
            let runs = results.filter { $0.concurrency == level && $0.constrained == constrained }.sorted {
                $0.aggregateTokensPerSecond < $1.aggregateTokensPerSecond
            }
            return runs[runs.count / 2]
        }
    }

    /// Each round's ratio of a level's rate to the single stream's rate in the same round (rounds run the levels
    /// back to back, so a ratio compares runs that met the same machine load).
    static func roundRatios(
        _ rounds: [EngineBenchResult], level: Int, rate: (EngineBenchResult) -> Double
    ) -> [Double] {
        let plain = rounds.filter { !$0.constrained }
        let singles = plain.filter { $0.concurrency == 1 }
        let others = plain.filter { $0.concurrency == level }
        return zip(singles, others).map { rate($1) / rate($0) }
    }

    /// The table of median rounds, then the ratios to one stream: the medians' ratio and, with several rounds,
    /// the median and range of the per-round ratios.
    static func table(_ rounds: [EngineBenchResult]) -> String {
        let results = medians(rounds)
        var lines = [
            "| concurrency | constrained | prompt | generated | aggregate tok/s | decode-only aggregate tok/s "
                + "| per-stream decode tok/s | mean TTFT s |"
        ]
        lines.append("|---:|:---:|---:|---:|---:|---:|---:|---:|")
        for r in results {
            lines.append(
                String(
                    format: "| %d | %@ | %d | %d | %.1f | %.1f | %.1f | %.3f |", r.concurrency,
                    r.constrained ? "yes" : "no", r.promptTokens, r.generatedTokens, r.aggregateTokensPerSecond,
                    r.decodeAggregateTokensPerSecond, r.perStreamDecodeTokensPerSecond, r.meanTimeToFirstTokenSeconds))
        }
        for r in results where r.constrained {
            if let plain = results.first(where: { $0.concurrency == r.concurrency && !$0.constrained }) {
                lines.append(
                    String(
                        format: "concurrency %d constrained: aggregate %.1f%% of unconstrained, per-token time +%.1f%%",
                        r.concurrency, 100 * r.aggregateTokensPerSecond / plain.aggregateTokensPerSecond,
                        100 * (plain.perStreamDecodeTokensPerSecond / r.perStreamDecodeTokensPerSecond - 1)))
            }
        }
        if let base = results.first(where: { $0.concurrency == 1 && !$0.constrained }) {
            for r in results where r.concurrency > 1 && !r.constrained {
                for (name, rate) in [
                    ("aggregate", { (x: EngineBenchResult) in x.aggregateTokensPerSecond }),
                    ("decode-only aggregate", { (x: EngineBenchResult) in x.decodeAggregateTokensPerSecond }),
                ] {
                    var line = String(
                        format: "concurrency %d: %.2f× the single-stream %@ rate", r.concurrency,
                        rate(r) / rate(base), name)
                    let ratios = roundRatios(rounds, level: r.concurrency, rate: rate).sorted()
                    if ratios.count > 1 {
                        line += String(
                            format: " (per round: median %.2f×, %.2f–%.2f× over %d rounds)", ratios[ratios.count / 2],
                            ratios.first!, ratios.last!, ratios.count)
                    }
                    lines.append(line)
                }
            }
        }
        return lines.joined(separator: "\n")
    }
}
