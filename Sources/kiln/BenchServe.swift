import ArgumentParser
import Foundation
import KilnBench

/// `kiln bench`: the engine in-process (`kiln bench --model M`, the default) or a running server over HTTP
/// (`kiln bench serve`), and charts of saved serving results (`kiln bench plot`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the engine in-process, or any TGI- or OpenAI-compatible server over HTTP.",
        subcommands: [Bench.self, BenchServe.self, BenchPlot.self],
        defaultSubcommand: Bench.self)
}

/// A load generator for a running server, with vLLM's metric definitions (benchmark_serving.py).
struct BenchServe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Load-test a running TGI- or OpenAI-compatible server and report vLLM's serving metrics.",
        discussion: """
            TTFT: first streamed token, per request. TPOT: (latency - TTFT) / (output tokens - 1), per request. \
            ITL: every gap between streamed tokens, pooled over all requests. E2EL: whole request. Throughputs divide \
            by the run's duration. Output tokens are what the server reports (TGI's details.generated_tokens, \
            OpenAI's usage), else the streamed chunks; greedy decoding, without ignoring end-of-sequence tokens.
            """)

    @Option(help: "The server's base URL, e.g. http://127.0.0.1:3000.")
    var url: String

    @Option(help: "tgi (POST /generate_stream) or openai (POST /v1/completions, streaming).")
    var backend: String = "tgi"

    @Option(help: "OpenAI's model field (default: left out).")
    var model: String?

    @Option(help: "random, or a file: JSON lines with \"prompt\" (and \"output_tokens\"), or one prompt per line.")
    var dataset: String = "random"

    @Option(help: "Requests to send.")
    var numPrompts: Int = 100

    @Option(help: "Requests per second (Poisson arrivals), or inf to send all at once.")
    var requestRate: String = "inf"

    @Option(help: "Most requests in flight at once (default: no limit).")
    var maxConcurrency: Int?

    @Option(help: "Prompt tokens of the random dataset (exact when the server can tokenize).")
    var inputLen: Int = 128

    @Option(help: "Tokens to generate per request (max_new_tokens / max_tokens).")
    var outputLen: Int = 128

    @Option(help: "Seed of the random dataset and of the arrival times.")
    var seed: UInt64 = 0

    @Option(help: "Goodput objective: time to first token, milliseconds.")
    var goodputTtft: Double?

    @Option(help: "Goodput objective: time per output token, milliseconds.")
    var goodputTpot: Double?

    @Option(help: "Goodput objective: end-to-end latency, milliseconds.")
    var goodputE2el: Double?

    @Option(help: "Name of this server in results, tables and charts (default: backend@host:port).")
    var label: String?

    @Option(help: "Write the result as JSON to this file.")
    var resultFile: String?

    @Option(help: "Write a chart of this run (SVG) to this file.")
    var chart: String?

    @Flag(help: "Skip the single warm-up request.")
    var noWarmup = false

    func validate() throws {
        guard Backend(rawValue: backend) != nil else { throw ValidationError("--backend is tgi or openai") }
        guard numPrompts >= 1 else { throw ValidationError("--num-prompts must be at least 1") }
        guard inputLen >= 1, outputLen >= 1 else { throw ValidationError("--input-len and --output-len must be at least 1") }
        if let maxConcurrency, maxConcurrency < 1 { throw ValidationError("--max-concurrency must be at least 1") }
        guard rate != nil else { throw ValidationError("--request-rate is a positive number or inf") }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("--url must start with http:// or https://") }
    }

    var rate: Double? {
        if requestRate == "inf" { return .infinity }
        guard let r = Double(requestRate), r > 0 else { return nil }
        return r
    }

    func run() async throws {
        let backend = Backend(rawValue: backend)!
        let http = StreamingClient.makeHTTPClient(connections: maxConcurrency ?? numPrompts)
        let client = StreamingClient(http: http, baseURL: url, backend: backend, model: model)
        do {
            try await benchmark(client, backend: backend)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    func benchmark(_ client: StreamingClient, backend: Backend) async throws {
        let count: @Sendable (String) async -> Int? = { await client.countTokens($0) }
        let prompts: [BenchPrompt]
        if dataset == "random" {
            prompts = await BenchDataset.random(
                count: numPrompts, inputTokens: inputLen, outputTokens: outputLen, seed: seed, countTokens: count)
        } else {
            prompts = try await BenchDataset.file(dataset, count: numPrompts, outputTokens: outputLen, countTokens: count)
        }
        if !noWarmup {
            let warm = await client.send(prompts[0], origin: .now)
            guard warm.success else {
                printError("error: the warm-up request failed: \(warm.error ?? "?")")
                throw ExitCode(1)
            }
        }
        let shape = LoadShape(requestRate: rate!, maxConcurrency: maxConcurrency, seed: seed)
        let objectives = ServiceLevelObjectives(ttftMs: goodputTtft, tpotMs: goodputTpot, e2elMs: goodputE2el)
        let (outcomes, duration, peak) = await LoadGenerator.run(
            client: client, prompts: prompts, shape: shape, progress: ProgressBar(total: prompts.count))
        let host = URL(string: url).map { "\($0.host ?? "?"):\($0.port.map(String.init) ?? "")" } ?? url
        let result = BenchResult(
            label: label ?? "\(backend.rawValue)@\(host)", backend: backend, url: url, dataset: dataset, shape: shape,
            inputLen: inputLen, outputLen: outputLen, objectives: objectives, outcomes: outcomes, duration: duration,
            peakConcurrency: peak)
        print(result.summary.report(maxConcurrency: maxConcurrency))
        if let first = result.errors.first { printError("first error: \(first)") }
        if let resultFile {
            try BenchResult.encoder().encode(result).write(to: URL(fileURLWithPath: resultFile))
        }
        if let chart {
            try BenchChart.svg([result]).write(toFile: chart, atomically: true, encoding: .utf8)
        }
        if result.summary.completed == 0 { throw ExitCode(1) }
    }
}

/// Draws saved results of `kiln bench serve` together: one chart and one table for several servers and concurrencies.
struct BenchPlot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Chart (SVG) and tabulate result files of `kiln bench serve`, grouped by their labels.")

    @Argument(help: "Result JSON files.")
    var results: [String]

    @Option(name: .shortAndLong, help: "The SVG file to write.")
    var output: String = "chart.svg"

    @Option(help: "Also write a markdown table to this file.")
    var markdown: String?

    @Option(help: "The chart's title.")
    var title: String?

    func run() throws {
        let decoder = BenchResult.decoder()
        let loaded = try results.map { path in
            do {
                return try decoder.decode(BenchResult.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            } catch {
                throw ValidationError("\(path): not a result of kiln bench serve (\(error))")
            }
        }
        try BenchChart.svg(loaded, title: title).write(toFile: output, atomically: true, encoding: .utf8)
        let table = BenchTable.markdown(loaded)
        if let markdown { try table.write(toFile: markdown, atomically: true, encoding: .utf8) }
        print(table, terminator: "")
    }
}
