import Foundation
import HTTPTypes
import Hummingbird
import KilnEngine
import Logging

/// TGI's routes (router/src/server.rs). Generation routes sit behind the API key when one is set; health, info and
/// metrics never do.
public func makeRouter(state: ServerState) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    if !state.config.corsAllowOrigins.isEmpty {
        router.add(middleware: AllowedOriginsMiddleware(origins: state.config.corsAllowOrigins))
    }
    let handlers = Handlers(state: state)
    router.get("/health") { _, _ in handlers.health() }
    router.get("/") { _, _ in handlers.health() }
    router.get("/ping") { _, _ in handlers.health() }
    router.get("/info") { _, _ in try handlers.info() }
    router.get("/metrics") { _, _ in handlers.metrics() }
    let generation = router.group().add(middleware: APIKeyMiddleware(key: state.config.apiKey))
    generation.post("/generate") { request, _ in await handlers.generate(request, route: .generate) }
    generation.post("/generate_stream") { request, _ in await handlers.generate(request, route: .generateStream) }
    generation.post("/") { request, _ in await handlers.generate(request, route: .compat) }
    generation.post("/tokenize") { request, _ in await handlers.tokenize(request) }
    addOpenAIRoutes(to: router, handlers: handlers)
    return router
}

/// `Authorization: Bearer <key>`, compared case-insensitively as TGI does; a bare 401 otherwise.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let key: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard Self.authorized(request, key: key) else { return Response(status: .unauthorized) }
        return try await next(request, context)
    }

    static func authorized(_ request: Request, key: String?) -> Bool {
        guard let key else { return true }
        let given = request.headers[.authorization] ?? ""
        return given.hasPrefix("Bearer ") && given.dropFirst(7).lowercased() == key.lowercased()
    }
}

enum GenerationRoute: String, Sendable {
    case generate = "/generate"
    case generateStream = "/generate_stream"
    case compat = "/"
    case chatCompletions = "/v1/chat/completions"
    case completions = "/v1/completions"
}

struct Handlers: Sendable {
    let state: ServerState

    func health() -> Response {
        do {
            let ready = try state.ready()
            if ready.engine.metrics.lastStepFailed {
                return Self.json(
                    ErrorResponse(error: "the engine's last step failed", errorType: "healthcheck"),
                    status: .serviceUnavailable)
            }
            return Response(status: .ok)
        } catch {
            return Self.json(ErrorResponse(error: "unhealthy", errorType: "healthcheck"), status: .serviceUnavailable)
        }
    }

    func info() throws -> Response {
        let config = state.config
        let ready = try? state.ready()
        let info = InfoResponse(
            modelID: config.modelID, modelPipelineTag: "text-generation",
            maxConcurrentRequests: config.maxConcurrentRequests, maxBestOf: config.maxBestOf,
            maxStopSequences: config.maxStopSequences, maxInputTokens: ready?.limits.maxInputTokens ?? 0,
            maxTotalTokens: ready?.limits.maxTotalTokens ?? 0, validationWorkers: 1, maxClientBatchSize: 4,
            version: config.version, modelDType: ready.map { "\($0.engine.model.transformer.config.architecture)" } ?? "",
            waitingServedRatio: config.waitingServedRatio, maxBatchTotalTokens: ready?.engine.tokenCapacity ?? 0,
            maxWaitingTokens: config.maxWaitingTokens, maxBatchSize: config.maxBatchSize)
        return Self.json(info, status: .ok)
    }

    func metrics() -> Response {
        guard let ready = try? state.ready() else {
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer()))
        }
        let m = ready.engine.metrics
        let text = ready.metrics.render(gauges: [
            ("tgi_queue_size", "Requests waiting for the engine", Double(m.waiting)),
            ("tgi_batch_current_size", "Sequences in the running batch", Double(m.running)),
            ("tgi_batch_current_max_tokens", "KV-cache tokens held by the running batch", Double(m.blocksInUse * ready.engine.config.blockSize)),
            ("tgi_batch_max_total_tokens", "KV-cache capacity in tokens", Double(m.tokenCapacity)),
            ("kiln_kv_blocks_in_use", "KV-cache blocks held by sequences", Double(m.blocksInUse)),
            ("kiln_kv_blocks_total", "KV-cache blocks in the pool", Double(m.blockCount)),
            ("kiln_kv_usage_ratio", "KV-cache blocks in use over blocks in the pool",
             m.blockCount > 0 ? Double(m.blocksInUse) / Double(m.blockCount) : 0),
            ("kiln_requests_in_flight", "HTTP generation requests being served", Double(state.requestsInFlight)),
            ("kiln_engine_failed_steps", "Engine steps whose forward pass failed", Double(m.failedSteps)),
            ("kiln_forward_tokens_total", "Token positions run through the forward pass", Double(m.forwardTokensTotal)),
            ("kiln_forked_sequences_total", "Sequences forked from a shared prompt (n, best_of)", Double(m.forks)),
            ("kiln_kv_block_copies_total", "Shared partial KV blocks copied on write by a fork", Double(m.blockCopies)),
        ])
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    func tokenize(_ request: Request) async -> Response {
        do {
            let ready = try state.ready()
            var request = request
            let body = try await decodeBody(&request)
            guard !body.inputs.isEmpty else { throw ServerError.validation("`inputs` cannot be empty") }
            let tokenizer = ready.tokenizer
            var entries: [TokenizeEntry] = []
            var offset = 0
            for id in tokenizer.encode(body.inputs) {
                let text = tokenizer.decode([id])
                let length = text.unicodeScalars.count
                entries.append(TokenizeEntry(id: id, text: text, start: offset, stop: offset + length))
                offset += length
            }
            return Self.json(entries, status: .ok)
        } catch {
            return Self.error(ServerError(engine: error))
        }
    }

    // MARK: - Generation

    func generate(_ request: Request, route: GenerationRoute) async -> Response {
        let arrived = ContinuousClock.now
        let trace = RequestTrace(route: route, headers: request.headers)
        let ready: ServerState.Ready
        let wire: GenerateRequest
        var request = request
        do {
            ready = try state.ready()
            wire = try await decodeBody(&request)
        } catch {
            let serverError = ServerError(engine: error)
            trace.phases(validation: seconds(since: arrived))
            trace.end(error: serverError)
            return Self.error(serverError)
        }
        ready.metrics.requestReceived()
        let streaming = route == .generateStream || (route == .compat && wire.stream)
        guard let permit = state.admit() else {
            return failure(.overloaded, ready: ready, route: route, streaming: streaming, trace: trace)
        }
        defer { withExtendedLifetime(permit) {} }
        let valid: ValidGenerateRequest
        do throws(ServerError) {
            valid = try ready.validator.validate(wire, streaming: streaming)
        } catch {
            trace.phases(validation: seconds(since: arrived))
            return failure(error, ready: ready, route: route, streaming: streaming, trace: trace)
        }
        let validation = seconds(since: arrived)
        if streaming {
            return StreamingReply(
                state: state, ready: ready, request: valid, route: route, arrived: arrived, validation: validation,
                trace: trace
            ).response(permit: permit)
        }
        return await cancellingOnClose(request.body, ready: ready, route: route, validation: validation, trace: trace) {
            await complete(valid, ready: ready, route: route, arrived: arrived, validation: validation, trace: trace)
        }
    }

    /// Runs a non-streamed reply while watching the connection: a client that closes it cancels the generation
    /// (and frees its KV blocks) as a dropped stream does, and is logged and counted as dropped. The connection
    /// then closes after the reply instead of staying alive.
    func cancellingOnClose(
        _ body: RequestBody, ready: ServerState.Ready, route: GenerationRoute, validation: Double, trace: RequestTrace,
        _ reply: () async -> Response
    ) async -> Response {
        do {
            var response = try await body.consumeWithCancellationOnInboundClose { _ in await reply() }
            // Say so, or a client reusing the connection would send its next request into the close.
            response.headers[.connection] = "close"
            return response
        } catch {
            trace.phases(validation: validation)
            trace.end(error: .generation("the client went away"))
            ready.metrics.dropped()
            RequestLog.dropped(state.logger, route: route, generated: 0)
            return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request"))
        }
    }

    /// Runs a validated non-streaming request to its end and answers it.
    func complete(
        _ valid: ValidGenerateRequest, ready: ServerState.Ready, route: GenerationRoute, arrived: ContinuousClock.Instant,
        validation: Double, trace: RequestTrace
    ) async -> Response {
        do throws(ServerError) {
            let (best, others) = try await Generation.run(valid, engine: ready.engine, arrived: arrived)
            let reply = ResponseBuilder(tokenizer: ready.tokenizer).response(valid, best: best, others: others)
            let completion = best.completion
            let timings = RequestTimings(
                total: seconds(since: arrived), validation: validation, queue: completion?.queueSeconds ?? 0,
                inference: completion?.inferenceSeconds ?? 0, timeToFirstToken: best.firstToken,
                promptTokens: valid.promptTokens.count, generatedTokens: best.tokens.count,
                maxNewTokens: valid.parameters.maxNewTokens)
            trace.phases(
                validation: validation, queue: completion?.queueSeconds, firstToken: best.firstToken,
                inference: completion?.inferenceSeconds, promptTokens: valid.promptTokens.count,
                generatedTokens: best.tokens.count)
            trace.end()
            ready.metrics.succeeded(timings)
            RequestLog.finished(state.logger, route: route, timings: timings, reason: completion?.reason.rawValue)
            var response = route == .compat ? Self.json([reply], status: .ok) : Self.json(reply, status: .ok)
            addTimingHeaders(&response.headers, timings, characters: valid.inputs.count)
            return response
        } catch {
            // Cancelled because the client left: the caller counts it as dropped.
            if Task.isCancelled { return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request")) }
            trace.phases(validation: validation)
            return failure(error, ready: ready, route: route, streaming: false, trace: trace)
        }
    }

    /// Counts and logs a failed request, then answers it: an HTTP error status, or, on a stream, TGI's error event
    /// on a 200 response.
    func failure(
        _ error: ServerError, ready: ServerState.Ready, route: GenerationRoute, streaming: Bool, trace: RequestTrace
    ) -> Response {
        trace.end(error: error)
        ready.metrics.failed(error)
        RequestLog.failed(state.logger, route: route, error: error)
        guard streaming else { return Self.error(error) }
        return Response(
            status: .ok, headers: StreamingReply.headers(computeType: state.config.computeType),
            body: ResponseBody(byteBuffer: SSE.event(error.body)))
    }

    func addTimingHeaders(_ headers: inout HTTPFields, _ t: RequestTimings, characters: Int) {
        func ms(_ s: Double) -> String { String(Int((s * 1000).rounded())) }
        let values: [(String, String)] = [
            ("x-compute-type", state.config.computeType), ("x-compute-time", String(t.total)),
            ("x-compute-characters", String(characters)), ("x-total-time", ms(t.total)),
            ("x-validation-time", ms(t.validation)), ("x-queue-time", ms(t.queue)),
            ("x-inference-time", ms(t.inference)), ("x-time-per-token", ms(t.timePerToken)),
            ("x-prompt-tokens", String(t.promptTokens)), ("x-generated-tokens", String(t.generatedTokens)),
        ]
        for (name, value) in values {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
    }

    /// Reads at most --payload-limit bytes and decodes TGI's request body.
    /// The collected body stays in `request`, so that the reply can still watch the connection for a close.
    func decodeBody(_ request: inout Request) async throws(ServerError) -> GenerateRequest {
        try Self.decodeJSON(GenerateRequest.self, from: try await readBody(&request))
    }

    /// The request's body, at most --payload-limit bytes, collected into `request`.
    func readBody(_ request: inout Request) async throws(ServerError) -> Data {
        let limit = state.config.payloadLimit
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw .payloadTooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw .payloadTooLarge(limit: limit)
        } catch {
            throw .malformedJSON("the body could not be read", syntax: true)
        }
        return Data(buffer.readableBytesView)
    }

    static func decodeJSON<Body: Decodable>(_ type: Body.Type, from data: Data) throws(ServerError) -> Body {
        do {
            return try JSONDecoder().decode(Body.self, from: data)
        } catch let error as DecodingError {
            // Valid JSON of the wrong shape is a 422; only a body that is not JSON at all is a 400 (as TGI's axum).
            if case .dataCorrupted = error, (try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)) == nil {
                throw .malformedJSON("the body is not valid JSON", syntax: true)
            }
            throw Self.decodingError(error)
        } catch {
            throw .malformedJSON("\(error)", syntax: true)
        }
    }

    static func decodingError(_ error: DecodingError) -> ServerError {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .dataCorrupted(let c):
            let p = path(c)
            return .malformedJSON(p.isEmpty ? "invalid value" : "\(p): invalid value", syntax: false)
        case .keyNotFound(let key, let c):
            let p = path(c)
            return .malformedJSON("missing field `\(p.isEmpty ? "" : p + ".")\(key.stringValue)`", syntax: false)
        case .typeMismatch(let type, let c): return .malformedJSON("\(path(c)): expected \(type)", syntax: false)
        case .valueNotFound(let type, let c): return .malformedJSON("\(path(c)): expected \(type)", syntax: false)
        @unknown default: return .malformedJSON("invalid body", syntax: false)
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"serialization failed","error_type":"internal"}"#.utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ error: ServerError) -> Response {
        error == .unauthorized ? Response(status: .unauthorized) : json(error.body, status: error.status)
    }
}
