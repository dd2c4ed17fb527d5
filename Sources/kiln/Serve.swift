import ArgumentParser
import Foundation
import Hummingbird
import KilnEngine
import KilnFormats
import KilnModels
import KilnScheduling
import KilnServer
import Logging
import ServiceLifecycle

#if OTel
import OTel
#endif

/// `kiln serve`: TGI's HTTP API over the batching engine. Flags carry TGI's launcher names where they mean the same
/// thing, and read the same environment variables when not given.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP with Text Generation Inference's API.",
        discussion: """
            Routes: POST /generate, POST /generate_stream (server-sent events), POST / (with "stream"), \
            POST /tokenize, GET /info, GET /health, GET /ping, GET /metrics (Prometheus); OpenAI's \
            POST /v1/chat/completions, POST /v1/completions and GET /v1/models.
            Errors in a stream arrive as a `data:{"error":…,"error_type":…}` event on a 200 response, as TGI sends them.
            SIGTERM or SIGINT stops taking requests, lets in-flight ones finish, and exits 0.
            """)

    @Option(name: [.customShort("m"), .long, .customLong("model-id")], help: "A GGUF file or a Hugging Face model directory (env MODEL_ID).")
    var model: String?

    @Option(help: "The model's name on the OpenAI routes (default: the --model value).")
    var servedModelName: String?

    @Option(help: "Address to listen on (env HOSTNAME; default 0.0.0.0).")
    var hostname: String?

    @Option(name: [.customShort("p"), .long], help: "Port to listen on (env PORT; default 3000).")
    var port: Int?

    @Option(help: "Requests served at once; more get 429 (env MAX_CONCURRENT_REQUESTS; default 128).")
    var maxConcurrentRequests: Int?

    @Option(help: "Largest best_of (env MAX_BEST_OF; default 2).")
    var maxBestOf: Int?

    @Option(help: "Most stop sequences per request (env MAX_STOP_SEQUENCES; default 4).")
    var maxStopSequences: Int?

    @Option(help: "Largest top_n_tokens (env MAX_TOP_N_TOKENS; default 5).")
    var maxTopNTokens: Int?

    @Option(help: "Most prompt tokens per request (env MAX_INPUT_TOKENS; default max-total-tokens - 1).")
    var maxInputTokens: Int?

    @Option(help: "Most prompt plus generated tokens per request (env MAX_TOTAL_TOKENS; default: context length or KV capacity).")
    var maxTotalTokens: Int?

    @Option(help: "Token budget of one engine step (env MAX_BATCH_PREFILL_TOKENS; default 512).")
    var maxBatchPrefillTokens: Int?

    @Option(
        help: ArgumentHelp(
            "Most prompt tokens in an engine step in which requests decode (env MAX_PREFILL_TOKENS_WITH_DECODES; default \(Self.defaultPrefillWithDecodes)).",
            discussion: "Every decoding request waits for its whole step, so prompts joining the step delay its next token. A smaller value bounds that wait (the longest gap between a stream's tokens) and spreads a new prompt over more, smaller steps, at some cost in throughput; it does not lower the mean time per output token, which counts all the prompt work done while a request decodes. Steps without decodes use the whole --max-batch-prefill-tokens."))
    var maxPrefillTokensWithDecodes: Int?

    static let defaultPrefillWithDecodes = 64

    @Option(help: "KV-cache capacity in tokens; overrides --kv-cache-memory (env MAX_BATCH_TOTAL_TOKENS).")
    var maxBatchTotalTokens: Int?

    @Option(help: "Most sequences per engine step (env MAX_BATCH_SIZE; default 32).")
    var maxBatchSize: Int?

    @Option(help: "Accepted for TGI compatibility and reported in /info; Kiln's scheduler mixes prefill and decode in every step.")
    var waitingServedRatio: Double = 0.3

    @Option(help: "Accepted for TGI compatibility and reported in /info; Kiln's scheduler mixes prefill and decode in every step.")
    var maxWaitingTokens: Int = 20

    @Option(help: "Require `Authorization: Bearer KEY` on generation routes (env API_KEY).")
    var apiKey: String?

    @Option(help: "Allowed CORS origins, comma-separated, or * (env CORS_ALLOW_ORIGIN).")
    var corsAllowOrigin: String?

    @Flag(help: "Log JSON lines instead of text.")
    var jsonOutput = false

    @Option(help: "Largest request body in bytes (env PAYLOAD_LIMIT; default 2000000).")
    var payloadLimit: Int?

    @Option(help: "Seconds a connection may send nothing (mid-request or between requests) before it is closed (default 60).")
    var idleTimeout: Int = 60

    @Option(help: "Seconds in-flight requests get to finish after SIGTERM (default 90).")
    var gracefulTerminationTimeout: Int = 90

    @Option(name: .shortAndLong, help: "Compute threads (default: the machine's cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "KV-cache memory, e.g. 512MiB or 2GiB (default 512MiB).")
    var kvCacheMemory: String = "512MiB"

    @Option(help: "Activation precision: fast (8-bit, integer kernels; the default) or reference (float32, slower).")
    var precision: String = "fast"

    @Option(name: .customLong("kv-cache-dtype"), help: ArgumentHelp(stringLiteral: KVCacheOption.help))
    var kvCacheDType: String?

    @Option(help: "max-utilization (admit eagerly, preempt when full) or guaranteed-no-evict (reserve each request's full budget).")
    var capacityPolicy: String = "max-utilization"

    @OptionGroup(title: "Tensor and pipeline parallelism")
    var parallel: ParallelOptions

    #if OTel
    @Option(
        help: """
            Export OpenTelemetry traces over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 (/v1/traces is \
            appended unless the URL has a path). OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, \
            OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf or http/json) and the other OTEL_* variables are honoured; \
            without either no traces are exported.
            """)
    var otlpEndpoint: String?

    @Option(help: "The service name in traces (env OTEL_SERVICE_NAME; default kiln).")
    var otlpServiceName: String?

    /// The OpenTelemetry service when tracing is configured: it installs the global tracer and exports batches.
    func observability(logger: Logger) throws -> (any Service)? {
        let environment = ProcessInfo.processInfo.environment
        guard otlpEndpoint != nil || environment["OTEL_EXPORTER_OTLP_ENDPOINT"] != nil
            || environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] != nil
        else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = otlpServiceName ?? environment["OTEL_SERVICE_NAME"] ?? "kiln"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false  // metrics stay on /metrics (Prometheus)
        configuration.diagnosticLogger = .custom(logger)
        if let endpoint = otlpEndpoint {
            // swift-otel takes a signal endpoint verbatim; a bare collector address gets the traces path.
            let path = URL(string: endpoint)?.path ?? ""
            configuration.traces.otlpExporter.endpoint =
                path.isEmpty || path == "/" ? (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces" : endpoint
        }
        let service = try OTel.bootstrap(configuration: configuration)
        logger.info("tracing", metadata: ["service": "\(configuration.serviceName)"])
        return service
    }
    #endif

    private static func env(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }
    private static func envInt(_ name: String) -> Int? { env(name).flatMap { Int($0) } }

    func validate() throws {
        guard model ?? Self.env("MODEL_ID") != nil else { throw ValidationError("--model (or MODEL_ID) is required") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        guard (try? Self.bytes(kvCacheMemory)) != nil else {
            throw ValidationError("--kv-cache-memory must look like 512MiB, 2GiB or a number of bytes")
        }
        guard ["max-utilization", "guaranteed-no-evict"].contains(capacityPolicy) else {
            throw ValidationError("--capacity-policy must be max-utilization or guaranteed-no-evict")
        }
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision is fast or reference") }
        _ = try KVCacheOption.parse(kvCacheDType)
        for (name, value) in [
            ("--max-concurrent-requests", maxConcurrentRequests), ("--max-best-of", maxBestOf),
            ("--max-batch-size", maxBatchSize), ("--max-batch-prefill-tokens", maxBatchPrefillTokens),
            ("--max-prefill-tokens-with-decodes", maxPrefillTokensWithDecodes),
            ("--payload-limit", payloadLimit), ("--max-batch-total-tokens", maxBatchTotalTokens),
            ("--idle-timeout", idleTimeout),
        ] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
        }
    }

    static func bytes(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("B", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let n = Double(text.dropLast(suffix.count)), n > 0 else { break }
            return Int(n * Double(scale))
        }
        guard let n = Int(text), n > 0 else { throw ValidationError("bad size \(text)") }
        return n
    }

    func run() async throws {
        let modelPath = model ?? Self.env("MODEL_ID") ?? ""
        let json = jsonOutput || Self.env("JSON_OUTPUT") == "true"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: Self.env("LOG_LEVEL") ?? "info") ?? .info
            return handler
        }
        let logger = Logger(label: "kiln.serve")
        // Under mpirun with --tensor-parallel N or --pipeline-parallel M, ranks other than 0 only compute their part
        // (Parallel.swift).
        let ranks = try parallel.join()
        if let ranks, !ranks.isRoot {
            let precision = Precision(rawValue: precision) ?? .fast
            return try ranks.runWorker(modelPath: modelPath, threads: threads, precision: precision) { path in
                EngineCache.resolve(path) { logger.info("\($0)") }
            }
        }
        defer { ranks?.shutdown() }

        // An engine file's build-time limits are the defaults; flags and environment variables override them.
        let built = EngineFile.hasMagic(path: modelPath) ? (try? EngineFile(path: modelPath))?.metadata.limits : nil
        var config = ServerConfig(modelID: modelPath)
        config.servedModelName = servedModelName
        config.maxConcurrentRequests = maxConcurrentRequests ?? Self.envInt("MAX_CONCURRENT_REQUESTS") ?? 128
        config.maxBestOf = maxBestOf ?? Self.envInt("MAX_BEST_OF") ?? 2
        config.maxStopSequences = maxStopSequences ?? Self.envInt("MAX_STOP_SEQUENCES") ?? 4
        config.maxTopNTokens = maxTopNTokens ?? Self.envInt("MAX_TOP_N_TOKENS") ?? 5
        config.maxInputTokens = maxInputTokens ?? Self.envInt("MAX_INPUT_TOKENS") ?? built?.maxInputTokens
        config.maxTotalTokens = maxTotalTokens ?? Self.envInt("MAX_TOTAL_TOKENS") ?? built?.maxTotalTokens
        config.maxBatchSize = maxBatchSize ?? Self.envInt("MAX_BATCH_SIZE") ?? built?.maxBatchSize
        config.waitingServedRatio = waitingServedRatio
        config.maxWaitingTokens = maxWaitingTokens
        config.apiKey = apiKey ?? Self.env("API_KEY")
        config.corsAllowOrigins = (corsAllowOrigin ?? Self.env("CORS_ALLOW_ORIGIN")).map {
            $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } ?? []
        config.payloadLimit = payloadLimit ?? Self.envInt("PAYLOAD_LIMIT") ?? 2_000_000
        config.computeType = Self.env("COMPUTE_TYPE") ?? "cpu"

        let engineConfig = EngineConfig(
            maxBatchSize: config.maxBatchSize ?? 32,
            maxBatchTokens: maxBatchPrefillTokens ?? Self.envInt("MAX_BATCH_PREFILL_TOKENS") ?? built?.maxNumTokens ?? 512,
            kvCacheBytes: try Self.bytes(kvCacheMemory),
            policy: capacityPolicy == "guaranteed-no-evict" ? .guaranteedNoEvict : .maxUtilization,
            precision: Precision(rawValue: precision) ?? .fast, kvCacheDType: try KVCacheOption.parse(kvCacheDType),
            maxPrefillTokensWithDecodes: maxPrefillTokensWithDecodes ?? Self.envInt("MAX_PREFILL_TOKENS_WITH_DECODES")
                ?? Self.defaultPrefillWithDecodes)
        let state = ServerState(config: config, logger: logger)
        let resolve: @Sendable (String) -> String = { path in EngineCache.resolve(path) { logger.info("\($0)") } }
        var engineService = EngineService(
            state: state, modelPath: modelPath, threads: threads, engineConfig: engineConfig,
            kvTokens: maxBatchTotalTokens ?? Self.envInt("MAX_BATCH_TOTAL_TOKENS"),
            resolve: ranks.map { $0.rootResolve(resolve) } ?? resolve)
        engineService.prepare = ranks?.rootPrepare(state: state, threads: threads) { logger.error("\($0)") }
        if let ranks { engineService.load = { try ranks.load($0, threads: $1) } }
        let host = hostname ?? Self.env("HOSTNAME") ?? "0.0.0.0"
        let port = self.port ?? Self.envInt("PORT") ?? 3000
        let app = Application(
            router: makeRouter(state: state),
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(idleTimeout)))),
            configuration: .init(address: .hostname(host, port: port), serverName: "kiln"),
            onServerRunning: { _ in logger.info("listening", metadata: ["address": "\(host):\(port)"]) },
            logger: logger)
        // Services shut down in reverse order: HTTP first (stop accepting, finish in-flight), then the engine, then
        // the trace exporter (which flushes what the requests left).
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: engineService), .init(service: app),
        ]
        #if OTel
        if let observability = try observability(logger: logger) { services.insert(.init(service: observability), at: 0) }
        #endif
        var group = ServiceGroupConfiguration(services: services, logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        group.maximumGracefulShutdownDuration = .seconds(gracefulTerminationTimeout)
        try await ServiceGroup(configuration: group).run()
    }
}
