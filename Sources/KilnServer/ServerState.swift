import Foundation
import KilnEngine
import KilnModels
import KilnTemplates
import KilnTokenizers
import Logging
import Synchronization

/// What the routes share: settings, the engine once loaded, the in-flight count behind
/// --max-concurrent-requests, metrics and the request logger. Nothing here blocks for long: the engine runs on its
/// own thread and takes requests through `submit`.
public final class ServerState: Sendable {
    public let config: ServerConfig
    let logger: Logger
    private let slot = Mutex<Slot>(.loading)
    private let inFlight = Atomic<Int>(0)
    let started = ContinuousClock.now

    enum Slot: Sendable {
        case loading
        case ready(Ready)
        case failed(String)
    }

    struct Ready: Sendable {
        let engine: Engine
        let validator: Validator
        let metrics: ServerMetrics
        let limits: TokenLimits
        /// The checkpoint's chat template, which /v1/chat/completions renders; nil when it has none.
        let chatTemplate: ChatTemplate?
        var tokenizer: Tokenizer { validator.tokenizer }
    }

    public init(config: ServerConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// Makes the server ready with `engine`; fails when the configured token limits do not fit the model.
    public func attach(_ engine: Engine, chatTemplate: ChatTemplate? = nil) throws {
        let limits: TokenLimits
        do {
            limits = try TokenLimits(
                config: config, contextLength: engine.model.transformer.config.contextLength,
                tokenCapacity: engine.tokenCapacity)
        } catch {
            slot.withLock { $0 = .failed(error.description) }
            throw error
        }
        let ready = Ready(
            engine: engine, validator: Validator(
                tokenizer: engine.model.tokenizer, config: config, tokens: limits, constraints: engine.constraints),
            metrics: ServerMetrics(maxInputTokens: limits.maxInputTokens, maxTotalTokens: limits.maxTotalTokens),
            limits: limits, chatTemplate: chatTemplate)
        slot.withLock { $0 = .ready(ready) }
    }

    /// Marks the engine as failed: /health answers 503 from now on.
    public func fail(_ message: String) { slot.withLock { $0 = .failed(message) } }

    /// The engine when it is loaded and running.
    func ready() throws(ServerError) -> Ready {
        switch slot.withLock({ $0 }) {
        case .loading: throw .unavailable("the model is still loading")
        case .failed(let message): throw .unavailable("the engine has failed: \(message)")
        case .ready(let ready):
            guard !ready.engine.isStopped else { throw .unavailable("the engine has stopped") }
            return ready
        }
    }

    /// The engine of a ready server, for shutdown.
    public var engine: Engine? {
        if case .ready(let r) = slot.withLock({ $0 }) { return r.engine }
        return nil
    }

    /// A slot of --max-concurrent-requests, or nil when all are taken (TGI answers 429 at once).
    func admit() -> Permit? {
        let previous = inFlight.add(1, ordering: .acquiringAndReleasing).oldValue
        guard previous < config.maxConcurrentRequests else {
            inFlight.subtract(1, ordering: .acquiringAndReleasing)
            return nil
        }
        return Permit(self)
    }

    var requestsInFlight: Int { inFlight.load(ordering: .acquiring) }

    fileprivate func release() { inFlight.subtract(1, ordering: .acquiringAndReleasing) }
}

/// Holds one admission slot until it is released; a streaming body owns it, so a body that never runs still frees
/// the slot when it is dropped.
final class Permit: Sendable {
    private let state: ServerState
    fileprivate init(_ state: ServerState) { self.state = state }
    deinit { state.release() }
}
