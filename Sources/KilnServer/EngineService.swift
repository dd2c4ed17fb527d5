import Foundation
import KilnEngine
import KilnModels
import KilnTemplates
import Logging
import ServiceLifecycle

/// Loads the model off the cooperative pool while the HTTP server already answers (/health says 503 until then),
/// attaches the engine, and on graceful shutdown lets the engine finish what it has (the HTTP server, shut down
/// first, has already stopped taking requests and waited for in-flight ones).
public struct EngineService: Service {
    let state: ServerState
    let modelPath: String
    let threads: Int
    let engineConfig: EngineConfig
    /// --max-batch-total-tokens: when set, the KV cache is sized to hold this many tokens.
    let kvTokens: Int?
    /// Maps the given model path to the one to load (the executable's engine cache), on the loading thread.
    let resolve: @Sendable (String) -> String
    /// Turns the loaded model into the one the engine runs (a tensor-parallel rank's shard), on the loading thread.
    public var prepare: (@Sendable (LoadedModel) throws -> LoadedModel)?
    /// Loads the resolved path with the given threads in place of `LoadedModel.load` (a pipeline stage: its layers
    /// only), on the loading thread.
    public var load: (@Sendable (String, Int) throws -> LoadedModel)?

    public init(
        state: ServerState, modelPath: String, threads: Int, engineConfig: EngineConfig, kvTokens: Int? = nil,
        resolve: @escaping @Sendable (String) -> String = { $0 }
    ) {
        self.resolve = resolve
        self.state = state
        self.modelPath = modelPath
        self.threads = threads
        self.engineConfig = engineConfig
        self.kvTokens = kvTokens
    }

    public func run() async throws {
        let start = ContinuousClock.now
        let (path, threads, kvTokens) = (modelPath, self.threads, self.kvTokens)
        let config = engineConfig
        let resolve = self.resolve
        let prepare = self.prepare
        let load = self.load ?? { try LoadedModel.load($0, threads: $1) }
        let engine: Engine
        let template: ChatTemplate?
        do {
            (engine, template) = try await withCheckedThrowingContinuation { continuation in
                let thread = Thread { [config] in
                    var config = config
                    do {
                        var model = try load(resolve(path), threads)
                        if let prepare { model = try prepare(model) }
                        let perToken = PagedKVCache.bytesPerToken(
                            model.transformer.config, dtype: config.kvCacheDType(for: model.transformer))
                        if let kvTokens {
                            let (bytes, overflow) = kvTokens.multipliedReportingOverflow(by: perToken)
                            config.kvCacheBytes = overflow ? .max : bytes
                        }
                        try LimitChecks.checkKVCache(
                            kvCacheBytes: config.kvCacheBytes, kvTokens: kvTokens, bytesPerToken: perToken,
                            available: LimitChecks.availableMemory())
                        // A checkpoint without a chat template still serves every route but /v1/chat/completions.
                        let template = try? TemplateSource.load(path).compile()
                        continuation.resume(returning: (try Engine(model: model, config: config), template))
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
                thread.name = "kiln-load"
                thread.stackSize = 8 << 20
                thread.start()
            }
        } catch {
            state.fail("\(error)")
            state.logger.error("could not load the model", metadata: ["model": "\(path)", "error": "\(error)"])
            throw error
        }
        do {
            try state.attach(engine, chatTemplate: template)
        } catch {
            // Limits that do not fit this engine: stop its thread now rather than when the engine is released.
            state.fail("\(error)")
            state.logger.error("could not load the model", metadata: ["model": "\(path)", "error": "\(error)"])
            await engine.shutdown(drain: false)
            throw error
        }
        state.logger.info(
            "model ready",
            metadata: [
                "model": "\(path)", "load_seconds": "\(seconds(since: start))",
                "kv_tokens": "\(engine.tokenCapacity)", "chat_template": "\(template != nil)",
            ])
        try? await gracefulShutdown()
        state.logger.info("draining the engine")
        await engine.shutdown(drain: true)
    }
}
