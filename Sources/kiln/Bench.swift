import ArgumentParser
import Foundation
import KilnKernels
import KilnModels
import KilnSampling

/// Prompt-processing and generation speed in the spirit of llama-bench: `-p` prompt tokens from an empty cache
/// (pp), then `-n` tokens decoded one at a time from an empty cache (tg), each repeated `-r` times after a warm-up,
/// reported as mean ± standard deviation of tokens/s. Tokens are fixed pseudo-random ids, as in llama-bench.
///
/// Next to the speed it prints the machine's measured read bandwidth and float32 FMA peak and the run's fraction
/// of each: tg against the bandwidth roofline (weight bytes read per token / bandwidth), pp against peak FLOP/s
/// (2 × multiply-adds of the matrices per token). `--json` prints llama-bench's JSON shape.
///
/// With `--concurrency 1,4,8,16` it measures the batching engine instead (no HTTP): that many streams at once,
/// each a distinct `-p`-token prompt generating `-n` tokens; aggregate tokens/s from submission (prefill included),
/// decode-only aggregate tokens/s (after each stream's first token) and per-stream decode tokens/s.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Measure prompt and generation speed (like llama-bench), or the engine under concurrency.")

    @Option(
        help: """
            Comma-separated numbers of concurrent streams through the batching engine, e.g. 1,4,8,16. Each of the \
            -r rounds runs every level in turn; the median round of each level is reported, with the per-round \
            ratios to one stream.
            """)
    var concurrency: String?

    @Option(name: [.customShort("m"), .long], help: "A GGUF file or a Hugging Face model directory.")
    var model: String

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt tokens (0 skips the pp test).")
    var prompt: Int = 512

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generated tokens (0 skips the tg test).")
    var gen: Int = 128

    @Option(name: .shortAndLong, help: "Compute threads (default: the machine's cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: [.customShort("r"), .long], help: "Repetitions of each test.")
    var repetitions: Int = 5

    @Option(help: "Activation precision: fast (8-bit, integer kernels) or reference (float32).")
    var precision: String = "fast"

    @Option(name: .customLong("kv-cache-dtype"), help: ArgumentHelp(stringLiteral: KVCacheOption.help))
    var kvCacheDType: String?

    @Option(
        help: """
            With --concurrency: also run each level with every stream constrained to this regex (it should never \
            force an end, since the streams ignore end-of-sequence).
            """)
    var constraintRegex: String?

    @Option(help: "Time compiling the JSON Schema in this file (fresh compiler each time, -r times) and exit.")
    var compileSchema: String?

    @Flag(help: "Print llama-bench's JSON (a list of objects with n_prompt, n_gen, n_threads, avg_ts, stddev_ts).")
    var json = false

    @Flag(help: "Time to ready: run `kiln generate -n 1` -r times as new processes; wall time from start to exit.")
    var timeToReady = false

    func validate() throws {
        guard prompt >= 0, gen >= 0, prompt + gen > 0 else { throw ValidationError("-p and -n must be ≥ 0, not both 0") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard repetitions >= 1 else { throw ValidationError("-r must be ≥ 1") }
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision is fast or reference") }
        _ = try KVCacheOption.parse(kvCacheDType)
    }

    struct Measurement {
        let nPrompt: Int
        let nGen: Int
        let seconds: [Double]
        var tokens: Int { nPrompt + nGen }
        var rates: [Double] { seconds.map { Double(tokens) / $0 } }
        var mean: Double { rates.reduce(0, +) / Double(rates.count) }
        var stddev: Double { Bench.stddev(rates) }
        var test: String { nPrompt > 0 ? "pp\(nPrompt)" : "tg\(nGen)" }
    }

    func run() async throws {
        if timeToReady {
            try TimeToReady.run(model: model, threads: threads, repetitions: repetitions)
            return
        }
        if let compileSchema {
            try timeCompilation(schemaFile: compileSchema)
            return
        }
        if let concurrency {
            try await runEngine(levels: concurrency)
            return
        }
        try runSingleStream()
    }

    func runEngine(levels text: String) async throws {
        let levels = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !levels.isEmpty, levels.allSatisfy({ $0 >= 1 && $0 <= 1024 }) else {
            throw ValidationError("--concurrency takes a comma-separated list of numbers between 1 and 1024")
        }
        let loaded = try reportingErrors { try LoadedModel.load(model, threads: threads) }
        let results = try await EngineBench.run(
            model: loaded, levels: levels, promptTokens: max(prompt, 1), generateTokens: max(gen, 1),
            kvCacheBytes: 1 << 30, precision: Precision(rawValue: precision)!,
            kvCacheDType: try KVCacheOption.parse(kvCacheDType),
            constraint: constraintRegex.map { .regex($0) }, repetitions: repetitions)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(EngineBench.medians(results)), as: UTF8.self))
        } else {
            print(EngineBench.table(results))
        }
    }

    /// Compile time of a schema: parse, grammar, automaton start state; then the first mask (the start state's
    /// allowed tokens, one vocabulary-trie walk).
    func timeCompilation(schemaFile: String) throws {
        let text = try String(contentsOfFile: schemaFile, encoding: .utf8)
        let loaded = try reportingErrors { try LoadedModel.load(model, threads: threads) }
        let vocabulary = TokenVocabulary(tokenizer: loaded.tokenizer, endOfSequence: loaded.stopTokenIDs.sorted())
        var compile: [Double] = []
        var firstMask: [Double] = []
        var walkMasks: [Double] = []  // cold masks along a 32-token walk (lowest allowed id each step)
        var warmSteps: [Double] = []  // the same walk again: cached mask, applied to logits, then the token accepted
        var logits = [Float](repeating: 0, count: loaded.transformer.config.vocabularySize)
        for _ in 0..<max(repetitions, 1) {
            let compiler = ConstraintCompiler(vocabulary: vocabulary)
            let start = DispatchTime.now()
            let compiled = try reportingErrors { try compiler.compile(.jsonSchema(text)) }
            compile.append(seconds(since: start))
            let maskStart = DispatchTime.now()
            var matcher = compiled.makeMatcher()
            var allowed = matcher.allowedTokens()
            firstMask.append(seconds(since: maskStart))
            var walk: [Int32] = []
            for _ in 0..<32 {
                let candidates = (0..<Int32(vocabulary.size))
                guard let next = candidates.first(where: { allowed.allows($0) && !vocabulary.endOfSequence.contains($0) })
                else { break }
                matcher.accept(next)
                walk.append(next)
                let start = DispatchTime.now()
                allowed = matcher.allowedTokens()
                walkMasks.append(seconds(since: start))
            }
            var again = compiled.makeMatcher()
            let warmStart = DispatchTime.now()
            for token in walk {
                let mask = again.allowedTokens()
                logits.withUnsafeMutableBufferPointer { mask.apply(to: $0) }
                again.accept(token)
            }
            warmSteps.append(seconds(since: warmStart) / Double(max(walk.count, 1)))
        }
        let median = { (v: [Double]) in v.sorted()[v.count / 2] * 1000 }
        print(
            String(
                format:
                    "schema %@: compile %.2f ms (median of %d), first mask %.2f ms; "
                    + "cold masks along a 32-token walk: mean %.2f ms, max %.2f ms; "
                    + "warm mask + apply + advance: %.1f µs per token; vocabulary %d tokens",
                schemaFile, median(compile), compile.count, median(firstMask),
                walkMasks.reduce(0, +) / Double(max(walkMasks.count, 1)) * 1000, (walkMasks.max() ?? 0) * 1000,
                median(warmSteps) * 1000, vocabulary.size))
    }

    func runSingleStream() throws {
        let transformer = try reportingErrors {
            try ModelLoader.transformer(ModelLoader.open(model), threads: threads)
        }
        transformer.precision = Precision(rawValue: precision)!
        if let dtype = try KVCacheOption.parse(kvCacheDType) { transformer.kvCacheDType = dtype }
        let config = transformer.config
        guard prompt + gen <= config.contextLength else {
            printError("error: -p \(prompt) + -n \(gen) exceeds the model's context of \(config.contextLength) tokens")
            throw ExitCode(1)
        }
        var rng = SplitMix64(seed: 1234)
        let tokens = (0..<max(prompt, gen)).map { _ in Int32(rng.next() % UInt64(config.vocabularySize)) }
        let cache = transformer.makeCache(capacity: prompt + gen)
        let clock = ContinuousClock()

        func time(_ body: () throws -> Void) rethrows -> Double {
            let d = try clock.measure(body)
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        }
        func promptRun() throws -> Double {
            cache.reset()
            return try time { _ = try transformer.forward(Array(tokens[0..<prompt]), cache: cache) }
        }
        func genRun() throws -> Double {
            cache.reset()
            return try time {
                for i in 0..<gen { _ = try transformer.forward([tokens[i]], cache: cache) }
            }
        }
        var results: [Measurement] = []
        try reportingErrors {
            if prompt > 0 {
                _ = try promptRun()
                results.append(Measurement(nPrompt: prompt, nGen: 0, seconds: try (0..<repetitions).map { _ in try promptRun() }))
            }
            if gen > 0 {
                _ = try genRun()
                results.append(Measurement(nPrompt: 0, nGen: gen, seconds: try (0..<repetitions).map { _ in try genRun() }))
            }
        }

        let bandwidth = MachineProbe.readBandwidth(pool: transformer.pool)
        let peak = MachineProbe.peakFlops(pool: transformer.pool)
        let weights = transformer.weights
        let matrices = weights.layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] } + [weights.output]
        let bytesPerToken = matrices.reduce(0) { $0 + ($1.packed.map { $0.rowBytes * $0.rows } ?? $1.rowBytes * $1.rows) }
        let macsPerToken = matrices.reduce(0) { $0 + $1.rows * $1.columns }
        let name = URL(fileURLWithPath: model).lastPathComponent

        if json {
            let objects: [[String: Any]] = results.map { m in
                [
                    "model_filename": model, "model_type": "\(config.architecture) \(name)",
                    "model_size": bytesPerToken, "model_n_params": macsPerToken, "n_threads": threads,
                    "n_prompt": m.nPrompt, "n_gen": m.nGen, "test_time": ISO8601DateFormatter().string(from: Date()),
                    "avg_ns": Int(m.seconds.reduce(0, +) / Double(m.seconds.count) * 1e9),
                    "stddev_ns": Int(Bench.stddev(m.seconds) * 1e9), "avg_ts": m.mean, "stddev_ts": m.stddev,
                    "samples_ns": m.seconds.map { Int($0 * 1e9) }, "samples_ts": m.rates,
                    "kiln_precision": precision, "kiln_read_bandwidth_gbs": bandwidth / 1e9,
                    "kiln_peak_gflops_f32": peak / 1e9,
                ]
            }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(
            String(
                format: "%@: %d threads, %@ activations; weights read per token %.1f MB, %.1f M multiply-adds",
                name, threads, precision, Double(bytesPerToken) / 1e6, Double(macsPerToken) / 1e6))
        print(
            String(
                format: "machine: read bandwidth %.1f GB/s, float32 FMA peak %.0f GFLOP/s (%d threads); %@ kernels",
                bandwidth / 1e9, peak / 1e9, threads, "\(QuantKernels.ISA.available)"))
        print("| test   |            t/s | of bandwidth roofline | of fp32 peak FLOP/s |")
        print("| ------ | -------------: | --------------------: | ------------------: |")
        for m in results {
            let roofline = m.mean * Double(bytesPerToken) / bandwidth
            let flops = m.mean * 2 * Double(macsPerToken) / peak
            print(
                String(
                    format: "| %-6@ | %7.1f ± %5.1f | %20.1f%% | %18.1f%% |", m.test, m.mean, m.stddev, roofline * 100,
                    flops * 100))
        }
    }

    static func stddev(_ v: [Double]) -> Double {
        guard v.count > 1 else { return 0 }
        let mean = v.reduce(0, +) / Double(v.count)
        return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count - 1)).squareRoot()
    }
}
