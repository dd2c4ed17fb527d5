import Foundation
import HTTPTypes
import Hummingbird
import KilnEngine
import KilnSampling
import KilnTemplates

/// OpenAI's routes: /v1/chat/completions, /v1/completions, /v1/models. They share the TGI routes' engine,
/// validator, admission limit, metrics and request log; what differs is the wire format and the error body.
func addOpenAIRoutes(to router: Router<BasicRequestContext>, handlers: Handlers) {
    let v1 = router.group("v1").add(middleware: OpenAIKeyMiddleware(key: handlers.state.config.apiKey))
    v1.get("models") { _, _ in handlers.models() }
    v1.post("chat/completions") { request, _ in await handlers.chatCompletions(request) }
    v1.post("completions") { request, _ in await handlers.completions(request) }
}

/// --api-key on the /v1 routes: a 401 with OpenAI's error body (the openai client raises AuthenticationError).
struct OpenAIKeyMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let key: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard APIKeyMiddleware.authorized(request, key: key) else {
            return OpenAIError(.unauthorized).response
        }
        return try await next(request, context)
    }
}

/// OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, with the status the openai client maps
/// to its exception classes: 400 BadRequestError for invalid values, 422 UnprocessableEntityError for valid
/// requests Kiln cannot serve, 401 AuthenticationError, 413, 429 RateLimitError, 500 InternalServerError (the
/// engine failed) and 503 (loading or shutting down).
struct OpenAIError: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var param: String?
    var code: String?
    /// What metrics and the request log count it as.
    var cause: ServerError

    init(_ error: ServerError, param: String? = nil) {
        cause = error
        if case .validation(let m) = error { message = m } else { message = error.description }
        self.param = param
        switch error {
        case .validation, .malformedJSON:
            status = .badRequest
            type = "invalid_request_error"
            code = nil
        case .payloadTooLarge:
            status = .contentTooLarge
            type = "invalid_request_error"
            code = "payload_too_large"
        case .overloaded:
            status = .tooManyRequests
            type = "rate_limit_error"
            code = "rate_limit_exceeded"
        case .unauthorized:
            status = .unauthorized
            type = "invalid_request_error"
            code = "invalid_api_key"
            message = "Incorrect API key provided"
        case .unavailable:
            status = .serviceUnavailable
            type = "server_error"
            code = "service_unavailable"
        case .generation, .incompleteGeneration:
            status = .internalServerError
            type = "server_error"
            code = nil
        }
    }

    /// An invalid value (400).
    static func invalid(_ message: String, param: String?) -> OpenAIError {
        OpenAIError(.validation(message), param: param)
    }

    /// A well-formed request for something Kiln does not do (422, code `unsupported_feature`).
    static func unsupported(_ message: String, param: String?) -> OpenAIError {
        var error = OpenAIError(.validation(message), param: param)
        error.status = .unprocessableContent
        error.code = "unsupported_feature"
        return error
    }

    var body: Value {
        [
            "error": [
                "message": .string(message), "type": .string(type), "param": .orNull(param), "code": .orNull(code),
            ]
        ]
    }

    var response: Response {
        OpenAIReply.json(body, status: status)
    }
}

/// `response_format` → a compiled constraint (nil for text), through the same compiler and cache as TGI's
/// `grammar`; a schema Kiln cannot compile is a 422 naming the keyword or limit.
enum OpenAIGate {
    static func responseFormat(_ format: ResponseFormat, compiler: ConstraintCompiler) throws(OpenAIError)
        -> CompiledConstraint?
    {
        let spec: ConstraintSpec
        switch format {
        case .text: return nil
        case .jsonObject: spec = .jsonObject
        case .jsonSchema(_, let schema?, _): spec = .jsonSchema(OpenAIJSON.text(schema))
        case .jsonSchema(_, nil, _): spec = .jsonObject
        }
        do throws(ConstraintError) {
            return try compiler.compile(spec)
        } catch {
            throw .unsupported("`response_format` cannot be served: \(error.description)", param: "response_format")
        }
    }
}

enum OpenAIReply {
    static func json(_ value: Value, status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAIJSON.data(value))))
    }

    /// One server-sent event as OpenAI writes it: `data: <json>\n\n`.
    static func event(_ value: Value) -> ByteBuffer {
        ByteBuffer(string: "data: " + OpenAIJSON.text(value) + "\n\n")
    }

    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    /// One streamed chunk of either route; `usage` (null until the last chunk) is present only when
    /// `stream_options.include_usage` asked for it.
    static func chunk(
        object: String, id: String, created: Int, model: String, fingerprint: String, choices: [Value], usage: Value?
    ) -> Value {
        let base: Value = [
            "id": .string(id), "object": .string(object), "created": .int(created), "model": .string(model),
            "system_fingerprint": .string(fingerprint), "choices": .array(choices),
        ]
        var members = base.objectValue!
        if let usage { members["usage"] = usage }
        return .object(members)
    }

    static func id(_ prefix: String) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        return prefix + String((0..<24).map { _ in alphabet.randomElement()! })
    }

    static func usage(prompt: Int, completion: Int) -> Value {
        ["prompt_tokens": .int(prompt), "completion_tokens": .int(completion), "total_tokens": .int(prompt + completion)]
    }

    /// OpenAI's finish reasons: an end token or a stop string is `stop`.
    static func finishReason(_ reason: FinishReason?) -> String {
        reason == .length ? "length" : "stop"
    }
}

/// What both routes share once their prompts are tokenized: sampling fields checked with OpenAI's names and
/// ranges, then one engine request per choice.
struct OpenAISampling {
    var fields: OpenAISamplingFields
    var maxTokens: Int?
    var maxTokensName: String
    /// Alternatives per position: chat's `top_logprobs`, completions' `logprobs`.
    var topLogprobs: Int
    var topLogprobsName: String

    static let maxChoices = 8

    var n: Int { fields.n ?? 1 }

    /// Checks what OpenAI checks, before the engine's own rules.
    func check(config: ServerConfig) throws(OpenAIError) {
        if let t = fields.temperature, !(0...2).contains(t) {
            throw .invalid("`temperature` must be between 0 and 2. Given: \(t)", param: "temperature")
        }
        if let p = fields.topP, !(p > 0 && p <= 1) {
            throw .invalid("`top_p` must be > 0 and <= 1. Given: \(p)", param: "top_p")
        }
        if let p = fields.presencePenalty, !(-2...2).contains(p) {
            throw .invalid("`presence_penalty` must be between -2 and 2. Given: \(p)", param: "presence_penalty")
        }
        if let p = fields.frequencyPenalty, !(-2...2).contains(p) {
            throw .invalid("`frequency_penalty` must be between -2 and 2. Given: \(p)", param: "frequency_penalty")
        }
        guard (1...Self.maxChoices).contains(n) else {
            throw .invalid("`n` must be between 1 and \(Self.maxChoices). Given: \(n)", param: "n")
        }
        if let m = maxTokens, m < 1 {
            throw .invalid("`\(maxTokensName)` must be at least 1. Given: \(m)", param: maxTokensName)
        }
        guard (0...config.maxTopNTokens).contains(topLogprobs) else {
            throw .invalid(
                "`\(topLogprobsName)` must be between 0 and \(config.maxTopNTokens). Given: \(topLogprobs)",
                param: topLogprobsName)
        }
        let stop = fields.stop?.values ?? []
        guard stop.count <= config.maxStopSequences else {
            throw .invalid(
                "`stop` may hold at most \(config.maxStopSequences) sequences. Given: \(stop.count)", param: "stop")
        }
        if fields.streamOptions != nil && fields.stream != true {
            throw .invalid("`stream_options` is only allowed when `stream` is true", param: "stream_options")
        }
    }

    /// One validated parameter set per choice `0..<n`; with a seed, choice i is seeded `seed + i`.
    func parameters(promptTokens: Int, validator: Validator, input: String) throws(OpenAIError) -> [SamplingParameters] {
        let maxNew: Int
        do throws(ServerError) {
            maxNew = try validator.budget(
                promptTokens: promptTokens, maxNewTokens: maxTokens, input: input, output: maxTokensName)
        } catch {
            throw OpenAIError(error, param: maxTokens == nil ? input : maxTokensName)
        }
        var bias: [Int32: Float] = [:]
        for (key, value) in fields.logitBias ?? [:] {
            guard let id = Int32(key) else {
                throw .invalid("`logit_bias` keys must be token ids. Given: \(key)", param: "logit_bias")
            }
            bias[id] = Float(value)
        }
        // OpenAI's temperature 0 is greedy decoding; its default (1) samples. top_p 1 is "off".
        let temperature = fields.temperature ?? 1
        let topP = fields.topP.flatMap { $0 < 1 ? Float($0) : nil }
        let base = fields.seed.map { UInt64(bitPattern: $0) }
        var all: [SamplingParameters] = []
        for i in 0..<n {
            let request = SamplingRequest(
                doSample: temperature > 0, temperature: temperature > 0 && temperature != 1 ? Float(temperature) : nil,
                topP: temperature > 0 ? topP : nil, frequencyPenalty: fields.frequencyPenalty.map { Float($0) },
                presencePenalty: fields.presencePenalty.map { Float($0) }, seed: base.map { $0 &+ UInt64(i) },
                logitBias: bias, stop: fields.stop?.values ?? [], maxNewTokens: maxNew, topNTokens: topLogprobs)
            do throws(SamplingError) {
                all.append(try request.validate(limits: validator.samplingLimits(maxNewTokens: maxNew)))
            } catch {
                throw .invalid(error.description, param: nil)
            }
        }
        return all
    }
}

extension Handlers {
    var servedModel: String { state.config.servedModelName ?? state.config.modelID }

    var systemFingerprint: String { "kiln-\(state.config.version)" }

    /// `GET /v1/models`: the one model this server serves.
    func models() -> Response {
        let created = Int(Date().timeIntervalSince1970 - seconds(since: state.started))
        let model: Value = [
            "id": .string(servedModel), "object": "model", "created": .int(created), "owned_by": "kiln",
        ]
        return OpenAIReply.json(["object": "list", "data": [model]], status: .ok)
    }

    /// The parts every OpenAI route starts with: the engine, the body as typed request and as JSON value.
    func openAIBody<Body: Decodable>(_ request: inout Request, as type: Body.Type) async throws(OpenAIError)
        -> (ServerState.Ready, Body, Value)
    {
        do throws(ServerError) {
            let ready = try state.ready()
            let data = try await readBody(&request)
            let body = try Self.decodeJSON(Body.self, from: data)
            let value = (try? Value(json: data)) ?? .none
            return (ready, body, value)
        } catch {
            // A wrong shape is a 400 here too: OpenAI answers every malformed request with invalid_request_error.
            throw OpenAIError(error)
        }
    }

    /// Counts, logs and traces a failed OpenAI request (its trace gets the validation phase and an error
    /// status), then answers it.
    func openAIFailure(
        _ error: OpenAIError, ready: ServerState.Ready?, route: GenerationRoute, trace: RequestTrace, validation: Double
    ) -> Response {
        trace.phases(validation: validation)
        trace.end(error: error.cause)
        ready?.metrics.failed(error.cause)
        RequestLog.failed(state.logger, route: route, error: error.cause)
        return error.response
    }

    /// Admission, then either a stream or the finished choices for `reply`.
    func runOpenAI<Chunker: OpenAIChunker>(
        ready: ServerState.Ready, route: GenerationRoute, body: RequestBody, requests: [GenerationRequest],
        promptTokens: Int,
        stream: Bool, includeUsage: Bool, chunker: Chunker, arrived: ContinuousClock.Instant, trace: RequestTrace,
        reply: ([Collected]) -> Value
    ) async -> Response {
        guard let permit = state.admit() else {
            return openAIFailure(
                OpenAIError(.overloaded), ready: ready, route: route, trace: trace, validation: seconds(since: arrived))
        }
        defer { withExtendedLifetime(permit) {} }
        let validation = seconds(since: arrived)
        if stream {
            return OpenAIStream(
                state: state, ready: ready, route: route, requests: requests, chunker: chunker,
                includeUsage: includeUsage, promptTokens: promptTokens, arrived: arrived, validation: validation,
                trace: trace
            ).response(permit: permit)
        }
        // As on /generate: a client that closes its connection cancels its sequences.
        return await cancellingOnClose(body, ready: ready, route: route, validation: validation, trace: trace) {
            await completeOpenAI(
                ready: ready, route: route, requests: requests, promptTokens: promptTokens, arrived: arrived,
                validation: validation, trace: trace, reply: reply)
        }
    }

    /// Runs a non-streamed OpenAI request's sequences to their end and answers with `reply`.
    func completeOpenAI(
        ready: ServerState.Ready, route: GenerationRoute, requests: [GenerationRequest], promptTokens: Int,
        arrived: ContinuousClock.Instant, validation: Double, trace: RequestTrace, reply: ([Collected]) -> Value
    ) async -> Response {
        do throws(ServerError) {
            let choices = try await Generation.collectAll(ready.engine, requests, arrived: arrived)
            let generated = choices.reduce(0) { $0 + $1.tokens.count }
            let timings = RequestTimings(
                total: seconds(since: arrived), validation: validation,
                queue: choices.map { $0.completion?.queueSeconds ?? 0 }.max() ?? 0,
                inference: choices.map { $0.completion?.inferenceSeconds ?? 0 }.max() ?? 0,
                timeToFirstToken: choices.compactMap(\.firstToken).min(), promptTokens: promptTokens,
                generatedTokens: generated, maxNewTokens: requests.first?.parameters.maxNewTokens ?? 0)
            trace.phases(
                validation: validation, queue: timings.queue, firstToken: timings.timeToFirstToken,
                inference: timings.inference, promptTokens: promptTokens, generatedTokens: generated)
            trace.end()
            ready.metrics.succeeded(timings)
            RequestLog.finished(
                state.logger, route: route, timings: timings, reason: choices.first?.completion?.reason.rawValue)
            var response = OpenAIReply.json(reply(choices), status: .ok)
            addTimingHeaders(&response.headers, timings, characters: 0)
            return response
        } catch {
            // Cancelled because the client left: the caller counts it as dropped and ends its trace.
            if Task.isCancelled { return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request")) }
            return openAIFailure(OpenAIError(error), ready: ready, route: route, trace: trace, validation: validation)
        }
    }
}
